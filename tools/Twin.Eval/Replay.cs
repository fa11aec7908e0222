using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Twin.Eval;

/// <summary>A ticket as the evaluation sees it: when its evidence says it opened and, once resolved, cleared (event time).</summary>
public sealed record TicketTrace(string Id, string Kind, DateTimeOffset Opened, DateTimeOffset? Cleared);

/// <summary>What the product made of one series: the machine-level score per row and the tickets.</summary>
public sealed record ReplayResult(double[] Scores, IReadOnlyList<TicketTrace> Tickets);

/// <summary>
/// Replays series through the product's public HTTP API: a gateway process of this checkout
/// (embedded silo, SQLite in a temporary folder, simulator off, free 127.0.0.1 ports), telemetry
/// posted with the original event times, scores read back from the history API and tickets from
/// the tickets API. Stopped, and its folder removed, on dispose and on Ctrl-C.
/// </summary>
public sealed class GatewayReplay : IAsyncDisposable
{
    public const string Factory = "eval";
    private const int BatchSize = 500;

    private readonly TempDirectory _folder;
    private readonly GatewayProcess _gateway;

    private GatewayReplay(TempDirectory folder, GatewayProcess gateway)
    {
        _folder = folder;
        _gateway = gateway;
    }

    public static async Task<GatewayReplay> StartAsync(TextWriter log, IReadOnlyDictionary<string, string> settings)
    {
        var folder = new TempDirectory("twin-eval");
        var all = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            // Labelled data sets are years old: keep their readings, and let the tool ask as often as it needs.
            ["Twin:History:RawRetention"] = "36500.00:00:00",
            ["Twin:History:AggregateRetention"] = "36500.00:00:00",
            ["Twin:Auth:RequestsPerMinute"] = "1000000",
            ["Logging:LogLevel:Twin"] = "Warning",
        };
        foreach (var (key, value) in settings)
        {
            all[key] = value;
        }

        var gateway = new GatewayProcess(folder.Path, all, httpTimeout: TimeSpan.FromMinutes(2));
        var replay = new GatewayReplay(folder, gateway);
        await log.WriteLineAsync($"gateway {GatewayProcess.Dll} on http://127.0.0.1:{gateway.HttpPort}, data in {folder.Path}");
        try
        {
            await gateway.StartAsync(TimeSpan.FromSeconds(90));
        }
        catch
        {
            await replay.DisposeAsync();
            throw;
        }

        return replay;
    }

    /// <summary>Posts every row as one telemetry message (sequence = row number), then reads back the machine score and the tickets.</summary>
    public async Task<ReplayResult> ReplayAsync(LabelledSeries series, string machine, CancellationToken cancellationToken)
    {
        var path = $"/api/factories/{Factory}/machines/{machine}";
        for (var first = 0; first < series.Times.Count; first += BatchSize)
        {
            var batch = new JsonArray();
            for (var i = first; i < Math.Min(series.Times.Count, first + BatchSize); i++)
            {
                var values = new JsonObject();
                for (var c = 0; c < series.Sensors.Count; c++)
                {
                    if (double.IsFinite(series.Rows[i][c]))
                    {
                        values[series.Sensors[c]] = series.Rows[i][c];
                    }
                }

                batch.Add(new JsonObject { ["seq"] = i + 1, ["ts"] = series.Times[i].ToString("O", CultureInfo.InvariantCulture), ["values"] = values });
            }

            using var content = new StringContent(batch.ToJsonString(), Encoding.UTF8, "application/json");
            using var response = await _gateway.Http.PostAsync(path + "/telemetry", content, cancellationToken);
            if (!response.IsSuccessStatusCode)
            {
                throw new HttpRequestException($"POST {path}/telemetry: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync(cancellationToken)}");
            }
        }

        var scores = await ReadScoresAsync(series, path, cancellationToken);
        var tickets = await ReadTicketsAsync(machine, cancellationToken);
        return new ReplayResult(scores, tickets);
    }

    private async Task<double[]> ReadScoresAsync(LabelledSeries series, string path, CancellationToken cancellationToken)
    {
        var from = series.Times[0].ToString("O", CultureInfo.InvariantCulture);
        var to = series.Times[^1].AddSeconds(1).ToString("O", CultureInfo.InvariantCulture);
        var index = new Dictionary<DateTimeOffset, int>();
        for (var i = 0; i < series.Times.Count; i++)
        {
            index.TryAdd(series.Times[i], i);
        }

        var waited = Stopwatch.StartNew();
        var sensor = Uri.EscapeDataString(series.Sensors[0]);
        while (true)
        {
            // The history is written off the hot path: wait until the first sensor's rows are all
            // there (the machine score is written in the same batches), then read the machine score.
            var rows = await _gateway.Http.GetFromJsonAsync<JsonElement>($"{path}/history?sensor={sensor}&from={Uri.EscapeDataString(from)}&to={Uri.EscapeDataString(to)}&limit=100000", cancellationToken);
            var expected = series.Rows.Count(r => double.IsFinite(r[0]));
            if (rows.GetProperty("points").GetArrayLength() >= expected || waited.Elapsed > TimeSpan.FromSeconds(60))
            {
                if (rows.GetProperty("points").GetArrayLength() < expected)
                {
                    Console.Error.WriteLine($"{path}: only {rows.GetProperty("points").GetArrayLength()} of {expected} readings in the history after 60 s");
                }

                var history = await _gateway.Http.GetFromJsonAsync<JsonElement>($"{path}/history?sensor=_machine&from={Uri.EscapeDataString(from)}&to={Uri.EscapeDataString(to)}&limit=100000", cancellationToken);
                var stored = new double?[series.Times.Count];
                foreach (var point in history.GetProperty("points").EnumerateArray())
                {
                    if (index.TryGetValue(point.GetProperty("time").GetDateTimeOffset(), out var i))
                    {
                        stored[i] = point.GetProperty("anomalyScore").GetDouble();
                    }
                }

                // The machine score series has a deadband: a row without a point scored what the last point said.
                var scores = new double[series.Times.Count];
                for (var i = 0; i < scores.Length; i++)
                {
                    scores[i] = stored[i] ?? (i > 0 ? scores[i - 1] : 0);
                }

                return scores;
            }

            await Task.Delay(100, cancellationToken);
        }
    }

    private async Task<IReadOnlyList<TicketTrace>> ReadTicketsAsync(string machine, CancellationToken cancellationToken)
    {
        // Fault reports reach their tickets through the twin's outbox, just after the telemetry is
        // durable: read until two reads a second apart agree.
        string? previous = null;
        var waited = Stopwatch.StartNew();
        while (true)
        {
            var text = await _gateway.Http.GetStringAsync($"/api/factories/{Factory}/tickets?machine={machine}&limit=1000", cancellationToken);
            if (text == previous || waited.Elapsed > TimeSpan.FromSeconds(30))
            {
                return Tickets(JsonDocument.Parse(text).RootElement);
            }

            previous = text;
            await Task.Delay(1000, cancellationToken);
        }
    }

    public static IReadOnlyList<TicketTrace> Tickets(JsonElement list)
    {
        var tickets = new List<TicketTrace>();
        foreach (var ticket in list.GetProperty("items").EnumerateArray())
        {
            var evidence = ticket.GetProperty("evidence").EnumerateArray().Select(e => e.GetProperty("time").GetDateTimeOffset()).ToList();
            if (evidence.Count == 0)
            {
                continue;
            }

            var status = ticket.GetProperty("status").GetString();
            var resolved = status is "resolved" or "closed";
            tickets.Add(new TicketTrace(ticket.GetProperty("id").GetString()!, ticket.GetProperty("kind").GetString()!, evidence.Min(), resolved ? evidence.Max() : null));
        }

        return tickets;
    }

    public async ValueTask DisposeAsync()
    {
        await _gateway.DisposeAsync();
        _folder.Dispose();
    }
}
