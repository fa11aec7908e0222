using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Twin;
using Twin.Factories;
using Twin.Machines;

// Reads a factory's machines through the grain client SDK, as an integrating .NET service would.
// Usage: dotnet run --project tools/examples/Twin.Examples.Sdk -- [factory] [--Twin:Client:GatewayPort=30000]
var factory = args.FirstOrDefault(a => !a.StartsWith("--", StringComparison.Ordinal)) ?? "demo";
var builder = Host.CreateApplicationBuilder(args);
builder.AddTwinClient();
using var host = builder.Build();
await host.StartAsync();

var grains = host.Services.GetRequiredService<IClusterClient>();
var ids = await grains.GetGrain<IFactoryGrain>(factory).ListAsync(TwinKind.Machine);
Console.WriteLine($"{ids.Length} machines in {factory}");
foreach (var id in ids)
{
    var snapshot = await grains.GetGrain<IMachineGrain>(TwinKey.Compose(factory, id)).GetSnapshotAsync();
    var temperature = snapshot.Sensors.FirstOrDefault(s => s.Sensor == "temperature");
    Console.WriteLine($"{id}: {snapshot.Status}, version {snapshot.Version}, {snapshot.Counts.Good} good{(temperature is null ? "" : $", temperature {temperature.Value:F1} {temperature.Unit}")}");
}

await host.StopAsync();
