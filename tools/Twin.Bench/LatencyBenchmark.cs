using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Microsoft.AspNetCore.Http.Connections;
using Microsoft.AspNetCore.SignalR.Client;
using Twin.Testing;

namespace Twin.Bench;

/// <summary>
/// Publish → SignalR client receipt. Every machine's <c>pressure</c> carries the message's
/// sequence number, so a client that receives a twin change knows which reading it shows and
/// when that reading was published (same process, same clock).
/// </summary>
public static class LatencyBenchmark
{
    public const string Usage = "[--max-rate <messages/s, default: the sustained ingest rate measured first>] [--machines 1000] [--clients 1000] [--seconds 15] [--warmup 10] [--live-rate 10] [--broker-inflight 1000] [--episodes] [--calibrate-watched] [--client lean|signalr]";

    /// <summary>Which SignalR client the benchmark's 1,000 connections use.</summary>
    public enum HubClient
    {
        /// <summary>The JSON hub protocol over a WebSocket, parsed in place (<see cref="LeanHubClient"/>).</summary>
        Lean,

        /// <summary>The .NET client, <c>Microsoft.AspNetCore.SignalR.Client</c>'s <c>HubConnection</c>.</summary>
        SignalR,
    }

    /// <summary>The most a rate measured with the clients watching may be (the readings' arrays are sized for it before it is known).</summary>
    private const int WatchedRateBound = 20_000;

    public static async Task<int> RunAsync(BenchArguments arguments)
    {
        int? maxRate = arguments.Text("max-rate") is null ? null : arguments.Number("max-rate", 10_000, 100, 1_000_000);
        var machines = arguments.Number("machines", 1000, 1, 100_000);
        var clients = arguments.Number("clients", 1000, 1, 5000);
        var seconds = arguments.Number("seconds", 15, 1, 600);
        var liveRate = arguments.Number("live-rate", 10, 1, 1000);
        var warmup = arguments.Number("warmup", 10, 0, 600);

        // The broker as the product configures it (deploy/k8s, docs/OPERATIONS.md): the gateway
        // acknowledges a reading only once it is durable, so Mosquitto's default window of 20
        // unacknowledged messages caps the rate at 20 per durable write's time.
        var brokerInflight = arguments.Number("broker-inflight", 1000, 1, 65535);

        // Each stretch of readings slower than 50 ms, listed after the table: one stall, or a backlog that builds and drains.
        var episodes = arguments.Flag("episodes");

        // The sustained rate measured once the clients are connected and watching, so the live feed's cost is in it.
        var watched = arguments.Flag("calibrate-watched");
        if (watched && maxRate is not null)
        {
            throw new ArgumentException("--calibrate-watched measures the rate the loads are shares of; leave out --max-rate.");
        }

        var client = arguments.Text("client") switch
        {
            null or "lean" => HubClient.Lean,
            "signalr" => HubClient.SignalR,
            var other => throw new ArgumentException($"--client {other}: lean or signalr"),
        };

        arguments.RejectUnknown();
        Console.WriteLine($"# Publish → SignalR latency\n\n{BenchEnvironment.Describe()}\n");
        Console.WriteLine(await MeasureAsync(maxRate, machines, clients, TimeSpan.FromSeconds(seconds), TimeSpan.FromSeconds(warmup), liveRate, brokerInflight, episodes, watched, client));
        return 0;
    }

    /// <summary>The gateway's total GC pause time so far, from its Prometheus endpoint.</summary>
    private static async Task<TimeSpan> GatewayGcPauseAsync(GatewayProcess gateway)
    {
        const string metric = "dotnet_gc_pause_time_seconds_total";
        var text = await gateway.Http.GetStringAsync(new Uri("/metrics", UriKind.Relative));
        foreach (var line in text.Split('\n'))
        {
            if (line.StartsWith(metric, StringComparison.Ordinal)
                && double.TryParse(line[(line.LastIndexOf(' ') + 1)..], NumberStyles.Float, CultureInfo.InvariantCulture, out var seconds))
            {
                return TimeSpan.FromSeconds(seconds);
            }
        }

        return TimeSpan.Zero;
    }

    /// <summary>The gateway's receive → durable histogram so far (upper bound in seconds → count), from its Prometheus endpoint.</summary>
    private static async Task<SortedDictionary<double, long>> GatewayDurableAsync(GatewayProcess gateway)
    {
        const string metric = "twin_ingest_durable_seconds_bucket{";
        var buckets = new SortedDictionary<double, long>();
        var text = await gateway.Http.GetStringAsync(new Uri("/metrics", UriKind.Relative));
        foreach (var line in text.Split('\n'))
        {
            var le = line.IndexOf("le=\"", StringComparison.Ordinal);
            if (!line.StartsWith(metric, StringComparison.Ordinal) || le < 0)
            {
                continue;
            }

            var bound = line[(le + 4)..line.IndexOf('"', le + 4)];
            var upper = bound == "+Inf" ? double.PositiveInfinity : double.Parse(bound, CultureInfo.InvariantCulture);
            var count = long.Parse(line[(line.LastIndexOf(' ') + 1)..], NumberStyles.Float, CultureInfo.InvariantCulture);
            buckets[upper] = buckets.GetValueOrDefault(upper) + count;
        }

        return buckets;
    }

    /// <summary>The bucket bound below which <paramref name="q"/> of the messages between two readings of the histogram fell.</summary>
    private static string DurableQuantile(SortedDictionary<double, long> before, SortedDictionary<double, long> after, double q)
    {
        var total = after.Count == 0 ? 0 : after.Last().Value - before.GetValueOrDefault(after.Last().Key);
        if (total <= 0)
        {
            return "–";
        }

        foreach (var (upper, count) in after)
        {
            if (count - before.GetValueOrDefault(upper) >= q * total)
            {
                return double.IsPositiveInfinity(upper) ? "> 30 s" : string.Create(CultureInfo.InvariantCulture, $"≤ {upper * 1000:G4} ms");
            }
        }

        return "–";
    }

    /// <summary>Readings over <see cref="Slow"/> whose publish times lie closer than <see cref="EpisodeGap"/> form one episode.</summary>
    private const double Slow = 50;

    private static readonly TimeSpan EpisodeGap = TimeSpan.FromMilliseconds(100);

    /// <summary>The seconds of a phase whose p99 was over <see cref="Slow"/>, and the worst second's p99.</summary>
    private static (int Over, int Seconds, double Worst) SlowSeconds(List<(long Sent, double Ms)> samples, long start)
    {
        var bySecond = samples.GroupBy(x => (long)Stopwatch.GetElapsedTime(start, x.Sent).TotalSeconds)
            .Select(g =>
            {
                var sorted = g.Select(x => x.Ms).Order().ToList();
                return sorted[Math.Min(sorted.Count - 1, (int)(0.99 * sorted.Count))];
            })
            .ToList();
        return (bySecond.Count(p => p > Slow), bySecond.Count, bySecond.Count == 0 ? double.NaN : bySecond.Max());
    }

    /// <summary>Stretches of slow readings: from / to (publish time, seconds into the phase), how many, the slowest.</summary>
    private static IEnumerable<string> Episodes(List<(long Sent, double Ms)> samples, long start, string phase)
    {
        var slow = samples.Where(x => x.Ms > Slow).OrderBy(x => x.Sent).ToList();
        for (var i = 0; i < slow.Count;)
        {
            var j = i;
            while (j + 1 < slow.Count && Stopwatch.GetElapsedTime(slow[j].Sent, slow[j + 1].Sent) < EpisodeGap)
            {
                j++;
            }

            yield return string.Create(CultureInfo.InvariantCulture,
                $"| {phase} | {Stopwatch.GetElapsedTime(start, slow[i].Sent).TotalSeconds:F2} s | {Stopwatch.GetElapsedTime(start, slow[j].Sent).TotalSeconds:F2} s | {j - i + 1:N0} | {slow.Skip(i).Take(j - i + 1).Max(x => x.Ms):F0} ms |");
            i = j + 1;
        }
    }

    private static string EpisodeTable(List<string> rows) =>
        rows.Count == 0 ? "\nNo reading took longer than 50 ms.\n" : $"""

        Readings slower than 50 ms, in stretches (published less than 100 ms apart); times are seconds into the phase, by publish time:
        | phase | from | to | readings | slowest |
        |---|---:|---:|---:|---:|
        {string.Join("\n", rows)}

        """;

    public static async Task<string> MeasureAsync(int? paced, int machines, int clients, TimeSpan duration, TimeSpan warmup, int liveRate, int brokerInflight, bool episodes = false, bool calibrateWatched = false, HubClient hubClient = HubClient.Lean)
    {
        const string factory = "live";
        using var folder = new TempDirectory("twin-bench-latency");
        await using var broker = await MosquittoProcess.StartAsync(folder.Sub("mosquitto"), brokerInflight);
        await using var gateway = BenchServers.Gateway(folder.Sub("gateway"), broker.Port, new Dictionary<string, string>
        {
            ["Twin:Live:MaxUpdatesPerSecond"] = liveRate.ToString(CultureInfo.InvariantCulture),
        });
        await gateway.StartAndWaitAsync();

        // Every machine exists before the clients subscribe.
        var created = await IngestBenchmark.EndToEndAsync(gateway, broker.Port, factory, machines, 1, 4, TimeSpan.FromSeconds(60));
        if (!created.ZeroLoss)
        {
            throw new InvalidOperationException("the machines were not all created");
        }

        // The loads are shares of the sustained ingest rate of this gateway on this machine: unless
        // given, it is measured here (the same 1,000 machines, published as fast as the broker takes
        // them, until every message is durable in its twin): before any client connects, or with
        // --calibrate-watched once they all watch their machines.
        var calibration = paced is null ? 100 : 0;
        var sustainedNote = "given";
        async Task<int> CalibrateAsync(string when)
        {
            var sustained = await IngestBenchmark.EndToEndAsync(gateway, broker.Port, factory, machines, calibration, 4, TimeSpan.FromMinutes(3), firstSeq: 2);
            if (!sustained.ZeroLoss)
            {
                throw new InvalidOperationException("the sustained-rate run lost messages");
            }

            sustainedNote = string.Create(CultureInfo.InvariantCulture, $"the sustained ingest rate measured {when} ({machines * calibration:N0} messages durable in {sustained.DurableSeconds:F1} s, gateway CPU {sustained.GatewayCpuPercentOfOneCore:F0} %)");
            return (int)Math.Round(sustained.MessagesPerSecond);
        }

        var maxRate = paced ?? (calibrateWatched ? WatchedRateBound : await CalibrateAsync("first, before any client connected"));

        // A warm-up at 50 % first (JIT, first activations and connections), reported but not a result.
        var phases = new[] { 0.5, 0.5, 0.8 };
        var lengths = new[] { warmup, duration, duration };
        int[] PerMachine(int rate) => phases.Select((p, i) => (int)Math.Ceiling(rate * p * lengths[i].TotalSeconds / machines)).ToArray();
        var perMachine = PerMachine(maxRate);
        var published = new long[machines, 2 + calibration + perMachine.Sum()];
        var latencies = new List<(long Sent, double Ms)>[phases.Length];

        // The same readings split where the twin applied them (its lastSeen, the wall clock of this
        // machine): publish → applied in the twin, and applied → the client (durable write, stream, hub).
        var publishedUtc = new long[machines, published.GetLength(1)];
        var toTwin = new List<double>[phases.Length];
        var toClient = new List<double>[phases.Length];
        var phase = -1;
        var received = 0L;
        var lastSeen = new long[clients];
        var seenAgain = new long[phases.Length];
        for (var p = 0; p < phases.Length; p++)
        {
            latencies[p] = new List<(long, double)>(1 << 20);
            toTwin[p] = new List<double>(1 << 20);
            toClient[p] = new List<double>(1 << 20);
        }

        // A client's handler: the reading a change shows, and when it was published.
        void OnChange(int c, int m, JsonElement change)
        {
                var now = Stopwatch.GetTimestamp();
                var current = Volatile.Read(ref phase);
                if (current < 0 || !change.TryGetProperty("machine", out var machine) || machine.ValueKind != JsonValueKind.Object)
                {
                    return;
                }

                foreach (var sensor in machine.GetProperty("sensors").EnumerateArray())
                {
                    if (sensor.GetProperty("sensor").ValueEquals("pressure"))
                    {
                        var seq = (long)Math.Round(sensor.GetProperty("value").GetDouble() * 1000);
                        var sent = seq < published.GetLength(1) ? Volatile.Read(ref published[m, seq]) : 0;

                        // A reading counts once, when it first arrives: a later change that still shows it
                        // (a late message applied behind it, a heartbeat check) is not its delivery.
                        // (One connection's handlers run one at a time, so lastSeen[c] needs no lock.)
                        if (sent != 0 && seq > lastSeen[c])
                        {
                            lastSeen[c] = seq;
                            var nowUtc = DateTime.UtcNow.Ticks;
                            lock (latencies[current])
                            {
                                latencies[current].Add((sent, Stopwatch.GetElapsedTime(sent, now).TotalMilliseconds));
                                if (machine.TryGetProperty("lastSeen", out var seenAt) && seenAt.TryGetDateTimeOffset(out var applied))
                                {
                                    toTwin[current].Add(TimeSpan.FromTicks(applied.UtcTicks - Volatile.Read(ref publishedUtc[m, seq])).TotalMilliseconds);
                                    toClient[current].Add(TimeSpan.FromTicks(nowUtc - applied.UtcTicks).TotalMilliseconds);
                                }
                            }
                        }
                        else if (sent != 0)
                        {
                            Interlocked.Increment(ref seenAgain[current]);
                        }

                        Interlocked.Increment(ref received);
                        break;
                    }
                }
        }

        var official = new List<HubConnection>();
        var lean = new List<LeanHubClient>();
        using var stopPings = new CancellationTokenSource();
        var pings = Task.CompletedTask;
        try
        {
            var url = new Uri(gateway.Http.BaseAddress!, "/hubs/twins");
            var connectClock = Stopwatch.StartNew();
            await Parallel.ForEachAsync(Enumerable.Range(0, clients), new ParallelOptions { MaxDegreeOfParallelism = 32 }, async (c, token) =>
            {
                var m = c % machines;
                var topic = $"machine:{factory}/{Devices.Machine(m)}";
                if (hubClient == HubClient.Lean)
                {
                    var connection = await LeanHubClient.ConnectAsync(url, "twinChanged", change => OnChange(c, m, change), token);
                    lock (lean)
                    {
                        lean.Add(connection);
                    }

                    await connection.InvokeAsync("Subscribe", topic, token);
                }
                else
                {
                    var connection = new HubConnectionBuilder()
                        .WithUrl(url, HttpTransportType.WebSockets, o => o.SkipNegotiation = true)
                        .Build();
                    connection.On<JsonElement>("twinChanged", change => OnChange(c, m, change));
                    await connection.StartAsync(token);
                    lock (official)
                    {
                        official.Add(connection);
                    }

                    await connection.InvokeAsync<JsonElement>("Subscribe", topic, token);
                }
            });

            // The hub closes a connection it has not heard from in 30 s; HubConnection pings on its own.
            pings = Task.Run(async () =>
            {
                using var every = new PeriodicTimer(TimeSpan.FromSeconds(10));
                while (await every.WaitForNextTickAsync(stopPings.Token))
                {
                    foreach (var connection in lean)
                    {
                        await connection.PingAsync(stopPings.Token);
                    }
                }
            });
            var connectSeconds = connectClock.Elapsed.TotalSeconds;
            if (calibrateWatched)
            {
                // Within the bound the readings' arrays were sized for.
                maxRate = Math.Min(WatchedRateBound, await CalibrateAsync($"with the {clients:N0} clients connected and watching"));
                perMachine = PerMachine(maxRate);
            }

            var rows = new List<string>();
            var slowRows = new List<string>();
            var firstSeq = 2L + calibration;
            for (var p = 0; p < phases.Length; p++)
            {
                if (perMachine[p] == 0)
                {
                    continue;
                }

                var rate = maxRate * phases[p];
                Volatile.Write(ref phase, p);
                await using var devices = await Devices.ConnectAsync(broker.Port, 4);
                var benchPause = GC.GetTotalPauseDuration();
                var gatewayPause = await GatewayGcPauseAsync(gateway);
                var durableBefore = await GatewayDurableAsync(gateway);
                var cpuBefore = gateway.Process.CpuTime();
                var phaseStart = Stopwatch.GetTimestamp();
                var clock = Stopwatch.StartNew();
                var sent = await devices.PublishAsync(
                    m => Devices.Topic(factory, Devices.Machine(m)),
                    machines,
                    firstSeq,
                    perMachine[p],
                    rate,
                    lengths[p] + TimeSpan.FromSeconds(30),
                    (m, seq) =>
                    {
                        Volatile.Write(ref publishedUtc[m, seq], DateTime.UtcNow.Ticks);
                        Volatile.Write(ref published[m, seq], Stopwatch.GetTimestamp());
                    });
                var publishSeconds = clock.Elapsed.TotalSeconds;
                var cpu = (gateway.Process.CpuTime() - cpuBefore).TotalSeconds / publishSeconds * 100;
                var durableAfter = await GatewayDurableAsync(gateway);

                // Every client sees its machine's last reading before the next phase starts, so a
                // phase never inherits the one before's backlog (drained is how long that took).
                var lastSeq = firstSeq + perMachine[p] - 1;
                var drain = Stopwatch.StartNew();
                await Wait.UntilAsync(
                    () => lean.Find(x => x.Closed is not null) is { } closed
                        ? throw new InvalidOperationException($"a client lost its connection: {closed.Closed}")
                        : Task.FromResult(Enumerable.Range(0, clients).All(c => Volatile.Read(ref lastSeen[c]) >= lastSeq)),
                    TimeSpan.FromSeconds(60),
                    "every client seeing its machine's last reading");
                var drained = drain.Elapsed.TotalSeconds;
                await Task.Delay(TimeSpan.FromSeconds(1));
                Volatile.Write(ref phase, -1);
                firstSeq += perMachine[p];
                List<double> samples, twin, client;
                (int Over, int Seconds, double Worst) slowSeconds;
                lock (latencies[p])
                {
                    samples = [.. latencies[p].Select(x => x.Ms).Order()];
                    slowSeconds = SlowSeconds(latencies[p], phaseStart);
                    if (episodes)
                    {
                        slowRows.AddRange(Episodes(latencies[p], phaseStart, string.Create(CultureInfo.InvariantCulture, $"{phases[p] * 100:F0} %{(p == 0 ? " (warm-up)" : "")}")));
                    }

                    twin = [.. toTwin[p].Order()];
                    client = [.. toClient[p].Order()];
                }

                static double Quantile(List<double> sorted, double q) => sorted.Count == 0 ? double.NaN : sorted[Math.Min(sorted.Count - 1, (int)(q * sorted.Count))];
                double At(double q) => Quantile(samples, q);
                var split = string.Create(CultureInfo.InvariantCulture, $"{Quantile(twin, 0.5):F1} / {Quantile(twin, 0.99):F1} ms | {Quantile(client, 0.5):F1} / {Quantile(client, 0.99):F1} ms");
                var gatewayPaused = await GatewayGcPauseAsync(gateway) - gatewayPause;
                var benchPaused = GC.GetTotalPauseDuration() - benchPause;
                rows.Add(string.Create(CultureInfo.InvariantCulture, $"| {phases[p] * 100:F0} %{(p == 0 ? $" (warm-up, {warmup.TotalSeconds:F0} s)" : "")} | {sent / publishSeconds:N0} msg/s ({sent / publishSeconds / machines:F1} per machine) | {samples.Count:N0} ({Volatile.Read(ref seenAgain[p]):N0}) | {At(0.5):F1} ms | {At(0.95):F1} ms | **{At(0.99):F1} ms** | {samples.LastOrDefault():F1} ms | {drained:F1} s | {split} | {DurableQuantile(durableBefore, durableAfter, 0.5)} / {DurableQuantile(durableBefore, durableAfter, 0.99)} | {slowSeconds.Over} of {slowSeconds.Seconds} ({slowSeconds.Worst:F0} ms) | {cpu:F0} % | {gatewayPaused.TotalMilliseconds:N0} / {benchPaused.TotalMilliseconds:N0} ms |"));
            }

            return string.Create(CultureInfo.InvariantCulture, $"""
                Publish → SignalR client receipt through Mosquitto (`max_inflight_messages {brokerInflight}`): {machines:N0} machines, {clients:N0} SignalR clients ({(hubClient == HubClient.Lean ? "the benchmark's lean JSON-protocol client" : "the .NET HubConnection")}, WebSockets, connected in {connectSeconds:F1} s), each subscribed to one machine; {duration.TotalSeconds:F0} s per load; live feed at most {liveRate} updates per twin per second; 100 % = {maxRate:N0} msg/s, {sustainedNote}
                | load (of {maxRate:N0} msg/s) | offered | readings seen by clients (seen again) | p50 | p95 | p99 | max | all seen after the last publish | publish → twin p50 / p99 | twin → client p50 / p99 | receive → durable p50 / p99 | seconds with p99 over 50 ms (worst) | gateway CPU | GC pauses: gateway / clients |
                |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|
                {string.Join("\n", rows)}
                {(episodes ? EpisodeTable(slowRows) : "")}
                """);
        }
        finally
        {
            await stopPings.CancelAsync();
            try
            {
                await pings;
            }
            catch (OperationCanceledException)
            {
            }

            await Task.WhenAll(official.Select(c => c.DisposeAsync().AsTask()).Concat(lean.Select(c => c.DisposeAsync().AsTask())));
        }
    }
}
