using System.Text.Json;
using Microsoft.AspNetCore.SignalR.Client;

// Watches one machine twin live over SignalR: its snapshot, then every change with its version.
// Usage: dotnet run --project tools/examples/Twin.Examples.Live -- [http://127.0.0.1:5080] [demo/press-1] [updates]
var url = args.Length > 0 ? args[0] : "http://127.0.0.1:5080";
var twin = args.Length > 1 ? args[1] : "demo/press-1";
var wanted = args.Length > 2 ? int.Parse(args[2], System.Globalization.CultureInfo.InvariantCulture) : 5;

var done = new TaskCompletionSource();
var received = 0;
long last = 0;
await using var connection = new HubConnectionBuilder().WithUrl($"{url.TrimEnd('/')}/hubs/twins").WithAutomaticReconnect().Build();
connection.On<JsonElement>("twinChanged", change =>
{
    var version = change.GetProperty("version").GetInt64();
    var gap = last > 0 && version > last + 1 ? $" (skipped {version - last - 1}: coalesced)" : "";
    last = version;
    Console.WriteLine($"version {version}{gap}: {Describe(change.GetProperty("machine"))}");
    if (++received >= wanted)
    {
        done.TrySetResult();
    }
});

await connection.StartAsync();
var snapshot = await connection.InvokeAsync<JsonElement>("Subscribe", $"machine:{twin}");
last = snapshot.GetProperty("version").GetInt64();
Console.WriteLine($"snapshot version {last}: {Describe(snapshot.GetProperty("machine"))}");
await done.Task.WaitAsync(TimeSpan.FromMinutes(2));
return 0;

static string Describe(JsonElement machine) =>
    $"{machine.GetProperty("status").GetString()}, " +
    string.Join(", ", machine.GetProperty("sensors").EnumerateArray().Take(3).Select(s => $"{s.GetProperty("sensor").GetString()} {s.GetProperty("value").GetDouble():F1}"));
