using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Json;
using System.Text.Json;

namespace Twin.Testing.Faults;

/// <summary>The faults a run draws from.</summary>
public enum FaultKind
{
    KillSilo,
    HangSilo,
    KillGateway,
    StopPostgres,
    RestartBroker,
    RestartDevice,
    RestartDeviceWithNewSource,
    RepeatOldMessages,
    HoldMessageBeyondWindow,
}

/// <summary>
/// A fault-injection run: QoS 1 load through Mosquitto into the cluster while faults drawn from a
/// seeded random schedule hit it one after another (the same seed gives the same faults at the
/// same offsets, so a failure replays); then everything is healed and every machine is checked:
/// each acknowledged message applied exactly once, statistics and history complete with the values
/// sent, every good part in the machine and its work order once, no dead letter, and no process
/// gone that was not killed.
/// </summary>
public sealed class ChaosRun(TwinCluster cluster, int seed, Action<string> log)
{
    private readonly Random _random = new(seed);
    private readonly Stopwatch _clock = new();
    private readonly List<string> _failures = [];

    /// <summary>Silos that were hung (SIGSTOP) and not replaced since: declared dead meanwhile, they may stop themselves later.</summary>
    private readonly HashSet<int> _hung = [];

    public int Machines { get; init; } = 40;

    public int Rate { get; init; } = 1500;

    public TimeSpan Duration { get; init; } = TimeSpan.FromMinutes(2);

    /// <summary>The kinds drawn from (all by default).</summary>
    public IReadOnlyList<FaultKind> Kinds { get; init; } = Enum.GetValues<FaultKind>();

    /// <summary>Faults drawn so far, by kind.</summary>
    public Dictionary<FaultKind, int> Drawn { get; } = [];

    /// <summary>Distinct messages the broker acknowledged over the run (not those sent again on purpose); known once the load stopped.</summary>
    public long Acknowledged { get; private set; }

    /// <summary>Kinds from comma-separated names (<c>KillSilo,HangSilo</c>); every kind when there are none.</summary>
    public static IReadOnlyList<FaultKind> ParseKinds(string? names)
    {
        FaultKind[] kinds = [.. (names ?? "").Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries).Select(ParseKind)];
        return kinds.Length > 0 ? kinds : Enum.GetValues<FaultKind>();
    }

    /// <summary>Acknowledged messages missing from their twin (refused as too old or never applied), over every machine.</summary>
    public long MessagesLost { get; private set; }

    /// <summary>Messages a twin applied beyond those acknowledged (taken twice), over every machine.</summary>
    public long MessagesDoubled { get; private set; }

    /// <summary>Acknowledged readings missing from the history, over every machine.</summary>
    public long HistoryMissing { get; private set; }

    /// <summary>History points beyond the acknowledged readings (doubled or unknown), over every machine.</summary>
    public long HistoryExtra { get; private set; }

    /// <summary>Runs load and faults, heals, checks; returns the failures (empty: nothing lost or doubled).</summary>
    public async Task<IReadOnlyList<string>> RunAsync(string factory)
    {
        Log($"seed {seed}: {Machines} machines at {Rate} messages/s for {Duration.TotalSeconds:F0} s, faults one after another from: {string.Join(", ", Kinds)}");
        await CreateWorkOrdersAsync(factory);
        await using var load = new ChaosLoad(factory, cluster.Mosquitto.Port, Machines, Rate);
        _clock.Start();
        await load.StartAsync();
        while (_clock.Elapsed < Duration)
        {
            await PauseAsync(TimeSpan.FromSeconds(3 + _random.Next(8)));
            if (_clock.Elapsed >= Duration)
            {
                break;
            }

            var kind = Kinds[_random.Next(Kinds.Count)];
            Drawn[kind] = Drawn.GetValueOrDefault(kind) + 1;
            await InjectAsync(kind, load);
            Log($"  {load.Acknowledged:N0} messages acknowledged so far");
        }

        var expected = await load.StopAsync(TimeSpan.FromMinutes(3));
        foreach (var line in load.Events)
        {
            Log("  device: " + line);
        }

        Acknowledged = expected.Sum(e => e.Messages);
        Log($"load stopped: {Acknowledged:N0} messages acknowledged ({expected.Sum(e => e.Repeated):N0} sent again on purpose)");
        await HealAsync();
        await VerifyAsync(factory, load, expected);
        return _failures;
    }

    private async Task InjectAsync(FaultKind kind, ChaosLoad load)
    {
        switch (kind)
        {
            case FaultKind.KillSilo:
            {
                var i = _random.Next(cluster.SiloProcesses.Length);
                var down = TimeSpan.FromSeconds(3 + _random.Next(8));
                Log($"kill -9 silo {i} (pid {cluster.SiloProcesses[i].Process.Id}); a new one in {down.TotalSeconds:F0} s");
                await cluster.SiloProcesses[i].KillAsync();
                await PauseAsync(down);
                await ReplaceSiloAsync(i);
                Log($"silo {i} replaced");
                break;
            }

            case FaultKind.HangSilo:
            {
                var i = _random.Next(cluster.SiloProcesses.Length);
                var hung = cluster.SiloProcesses[i].Process;
                Log($"SIGSTOP silo {i} (pid {hung.Id}) for 20 s");
                _hung.Add(i);
                await hung.PauseAsync();
                try
                {
                    await PauseAsync(TimeSpan.FromSeconds(20));
                }
                finally
                {
                    await hung.ResumeAsync();
                }

                // Declared dead meanwhile, it learns so when it wakes and stops itself: it is replaced, as a pod would be.
                var gone = await ExitsWithinAsync(cluster.SiloProcesses[i], TimeSpan.FromSeconds(15));
                Log($"SIGCONT silo {i}: {(gone ? "it had been declared dead and stopped; replaced" : "it carries on")}");
                if (gone)
                {
                    await ReplaceSiloAsync(i);
                }

                break;
            }

            case FaultKind.KillGateway:
            {
                var i = _random.Next(cluster.Gateways.Length);
                var down = TimeSpan.FromSeconds(2 + _random.Next(6));
                Log($"kill -9 gateway {i} (pid {cluster.Gateways[i].Process.Id}); restarted in {down.TotalSeconds:F0} s");
                await cluster.Gateways[i].Process.KillAsync();
                await PauseAsync(down);
                await cluster.RestartGatewayAsync(i);
                Log($"gateway {i} restarted");
                break;
            }

            case FaultKind.StopPostgres:
                Log("PostgreSQL stopped for 20 s");
                await cluster.Postgres.StopAsync();
                await PauseAsync(TimeSpan.FromSeconds(20));
                await cluster.Postgres.StartAgainAsync();
                Log("PostgreSQL started again");
                break;

            case FaultKind.RestartBroker:
            {
                // Devices stay away until the gateways have subscribed again: Mosquitto does not restore
                // shared subscriptions from its persistence file, so what devices publish before that
                // reaches no one (docs/OPERATIONS.md, what is not guaranteed).
                var down = TimeSpan.FromSeconds(1 + _random.Next(5));
                Log($"Mosquitto stopped (SIGTERM, saves its sessions); started again in {down.TotalSeconds:F0} s");
                load.Disconnect();
                await cluster.Mosquitto.StopAsync();
                await PauseAsync(down);
                await cluster.Mosquitto.StartAgainAsync();
                var back = Stopwatch.StartNew();
                await Task.WhenAll(cluster.Gateways.Select(g => g.WaitConsumingAsync(TimeSpan.FromSeconds(30))));
                load.Reconnect();
                Log($"both gateways subscribed again {back.Elapsed.TotalSeconds:F1} s after the broker; devices reconnect");
                break;
            }

            case FaultKind.RestartDevice:
                load.Restart(_random.Next(Machines), newSource: false);
                Log("a device restarted its numbering (same source)");
                break;

            case FaultKind.RestartDeviceWithNewSource:
                load.Restart(_random.Next(Machines), newSource: true);
                Log("a device restarted with a new source");
                break;

            case FaultKind.RepeatOldMessages:
            {
                var count = 5 + _random.Next(40);
                var back = count + _random.Next(2_000);
                load.Repeat(_random.Next(Machines), count, back);
                Log($"a device sends {count} messages again from {back} behind its newest");
                break;
            }

            default:
                load.HoldBack(_random.Next(Machines), 1_100 + _random.Next(300));
                Log("a device holds a message back beyond the twin's window");
                break;
        }
    }

    /// <summary>Every process of the cluster running again, and the gateways consuming.</summary>
    private async Task HealAsync()
    {
        for (var i = 0; i < cluster.SiloProcesses.Length; i++)
        {
            if (!cluster.SiloProcesses[i].HasExited)
            {
                continue;
            }

            if (_hung.Contains(i) && cluster.SiloProcesses[i].Output.Contains("I have been told I am dead", StringComparison.Ordinal))
            {
                // Orleans' rule: a silo the others declared dead while it hung stops when it learns so.
                Log($"silo {i}, hung earlier, stopped itself later on learning it had been declared dead; replaced");
            }
            else
            {
                Fail($"silo {i} exited without being killed:\n{Crash(cluster.SiloProcesses[i].Output)}");
            }

            await ReplaceSiloAsync(i);
        }

        for (var i = 0; i < cluster.Gateways.Length; i++)
        {
            if (cluster.Gateways[i].Process.HasExited)
            {
                Fail($"gateway {i} exited without being killed:\n{Crash(await cluster.Gateways[i].Process.ExitOutputAsync())}");
                await cluster.RestartGatewayAsync(i);
            }
        }
    }

    private async Task VerifyAsync(string factory, ChaosLoad load, IReadOnlyList<ChaosLoad.MachineExpectation> expected)
    {
        var gateway = cluster.Gateways[0];
        var settle = Stopwatch.StartNew();
        foreach (var machine in expected)
        {
            var path = $"/api/factories/{factory}/machines/{machine.Machine}";
            JsonElement? twin = null;
            try
            {
                twin = await Wait.ForAsync(
                    async () => await gateway.GetJsonAsync(path) is { } s && Taken(s) >= machine.Messages ? s : (JsonElement?)null,
                    TimeSpan.FromSeconds(Math.Max(5, 240 - settle.Elapsed.TotalSeconds)),
                    $"{machine.Messages} messages of {machine.Machine} in its twin");
            }
            catch (TimeoutException)
            {
                twin = await gateway.GetJsonAsync(path);
            }

            if (twin is not { } snapshot)
            {
                MessagesLost += machine.Messages;
                Fail($"{machine.Machine}: no twin");
                continue;
            }

            var ingest = snapshot.GetProperty("ingest");
            var taken = Taken(snapshot);
            MessagesDoubled += Math.Max(0, taken - machine.Messages);
            MessagesLost += Math.Max(0, machine.Messages - taken);
            if (taken != machine.Messages)
            {
                Fail($"{machine.Machine}: {machine.Messages} messages acknowledged, the twin applied {taken} ({ingest})");
            }

            if (ingest.GetProperty("tooOld").GetInt64() != 0)
            {
                Fail($"{machine.Machine}: {ingest.GetProperty("tooOld").GetInt64()} messages refused as too old ({ingest})");
            }

            var temperature = snapshot.GetProperty("sensors").EnumerateArray().FirstOrDefault(s => s.GetProperty("sensor").GetString() == "temperature");
            var count = temperature.ValueKind == JsonValueKind.Object ? temperature.GetProperty("statistics").GetProperty("count").GetInt64() : 0;
            if (count != machine.Temperatures.Count)
            {
                Fail($"{machine.Machine}: {machine.Temperatures.Count} temperature readings acknowledged, the statistics hold {count}");
            }
            else if (count > 0 && Math.Abs(temperature.GetProperty("statistics").GetProperty("mean").GetDouble() - machine.Temperatures.Average()) > 1e-6)
            {
                Fail($"{machine.Machine}: the temperature mean is {temperature.GetProperty("statistics").GetProperty("mean").GetDouble()}, the readings sent average {machine.Temperatures.Average()}");
            }

            var good = snapshot.GetProperty("counts").GetProperty("good").GetInt64();
            if (good != machine.Good)
            {
                Fail($"{machine.Machine}: {machine.Good} good parts acknowledged, the machine counted {good}");
            }
        }

        Log($"twins checked after {settle.Elapsed.TotalSeconds:F1} s");
        foreach (var machine in expected)
        {
            await VerifyWorkOrderAsync(factory, machine);
            await VerifyHistoryAsync(factory, load, machine);
        }

        var deadLetters = await gateway.GetJsonAsync($"/api/factories/{factory}/dead-letters");
        var total = deadLetters?.GetProperty("total").GetInt64() ?? -1;
        if (total != 0)
        {
            Fail($"{total} dead letters: {deadLetters}");
        }

        Log($"checked: {expected.Count} machines, {expected.Sum(e => e.Messages):N0} messages, {expected.Sum(e => e.Temperatures.Count):N0} history points, {expected.Sum(e => e.Good):N0} parts; {_failures.Count} failure(s)");
    }

    private async Task VerifyWorkOrderAsync(string factory, ChaosLoad.MachineExpectation machine)
    {
        var path = $"/api/factories/{factory}/work-orders/{machine.WorkOrder}";
        long good = -1;
        try
        {
            await Wait.UntilAsync(
                async () => await cluster.Gateways[0].GetJsonAsync(path) is { } o && (good = o.GetProperty("good").GetInt64()) >= machine.Good,
                TimeSpan.FromSeconds(60),
                $"{machine.Good} good parts on {machine.WorkOrder}");
        }
        catch (TimeoutException)
        {
        }

        if (good != machine.Good)
        {
            Fail($"{machine.WorkOrder}: {machine.Good} good parts acknowledged, the work order counted {good}");
        }
    }

    private async Task VerifyHistoryAsync(string factory, ChaosLoad load, ChaosLoad.MachineExpectation machine)
    {
        var from = Uri.EscapeDataString(load.FirstEventTime.ToString("O", CultureInfo.InvariantCulture));
        var to = Uri.EscapeDataString(load.FirstEventTime.AddHours(1).ToString("O", CultureInfo.InvariantCulture));
        var path = $"/api/factories/{factory}/machines/{machine.Machine}/history?sensor=temperature&from={from}&to={to}&limit=100000";
        List<double> values = [];
        try
        {
            await Wait.UntilAsync(
                async () =>
                {
                    if (await cluster.Gateways[0].GetJsonAsync(path) is not { } history)
                    {
                        return false;
                    }

                    values = [.. history.GetProperty("points").EnumerateArray().Select(p => p.GetProperty("value").GetDouble())];
                    return values.Count >= machine.Temperatures.Count;
                },
                TimeSpan.FromSeconds(60),
                $"the history of {machine.Machine}");
        }
        catch (TimeoutException)
        {
        }

        if (!values.SequenceEqual(machine.Temperatures))
        {
            var missing = machine.Temperatures.Except(values).Count();
            var extra = values.Count - machine.Temperatures.Count + missing;
            HistoryMissing += missing;
            HistoryExtra += extra;
            Fail($"{machine.Machine}: the history holds {values.Count} points for {machine.Temperatures.Count} acknowledged readings ({missing} missing, {extra} extra or doubled)");
        }
    }

    private async Task CreateWorkOrdersAsync(string factory)
    {
        for (var m = 0; m < Machines; m++)
        {
            var workOrder = ChaosLoad.WorkOrder(m);
            foreach (var action in new[] { "create", "release" })
            {
                using var response = await cluster.Gateways[0].Http.PostAsJsonAsync(
                    $"/api/factories/{factory}/erp/work-orders",
                    new { eventId = $"{factory}-{workOrder}-{action}", action, workOrder, product = "part", quantity = 10_000_000, due = "2030-01-01T00:00:00Z" });
                response.EnsureSuccessStatusCode();
            }
        }
    }

    private static FaultKind ParseKind(string name) =>
        Enum.TryParse<FaultKind>(name, out var kind) && Enum.IsDefined(kind)
            ? kind
            : throw new FormatException($"'{name}' is not a fault kind (kinds: {string.Join(", ", Enum.GetValues<FaultKind>())})");

    private static long Taken(JsonElement snapshot) =>
        snapshot.GetProperty("ingest").GetProperty("applied").GetInt64() + snapshot.GetProperty("ingest").GetProperty("late").GetInt64();

    private async Task ReplaceSiloAsync(int i)
    {
        await cluster.RestartSiloAsync(i);
        _hung.Remove(i);
    }

    private static async Task<bool> ExitsWithinAsync(SiloProcess silo, TimeSpan within)
    {
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < within)
        {
            if (silo.HasExited)
            {
                return true;
            }

            await Task.Delay(200);
        }

        return false;
    }

    private static Task PauseAsync(TimeSpan time) => Task.Delay(time);

    private void Log(string line) => log($"{_clock.Elapsed.TotalSeconds,6:F1} s  {line}");

    private void Fail(string failure)
    {
        _failures.Add(failure);
        Log("FAIL " + failure);
    }

    /// <summary>What a process said as it went: from its unhandled exception when there is one, else its last lines.</summary>
    private static string Crash(string text)
    {
        var at = text.LastIndexOf("Unhandled exception", StringComparison.Ordinal);
        return at >= 0 ? text[at..Math.Min(text.Length, at + 3000)] : text.Length <= 3000 ? text : text[^3000..];
    }
}
