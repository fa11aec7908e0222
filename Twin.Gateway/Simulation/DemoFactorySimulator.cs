using System.Globalization;
using System.Text;
using Microsoft.Extensions.Options;
using MQTTnet;
using MQTTnet.Protocol;
using Twin.Bins;
using Twin.Lines;
using Twin.Machines;
using Twin.WorkOrders;

namespace Twin.Gateway.Simulation;

/// <summary>
/// Publishes a realistic demo factory over MQTT (telemetry every interval, status changes, part
/// counts), after creating its master data, so a newcomer sees live twins at once. Sequence
/// numbers start from the wall clock in milliseconds, so they keep rising across restarts.
/// </summary>
internal sealed partial class DemoFactorySimulator(
    IOptions<SimulatorOptions> options,
    IOptions<MqttOptions> mqttOptions,
    IGrainFactory grains,
    TimeProvider time,
    ILogger<DemoFactorySimulator> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var o = options.Value;
        await SeedWithRetryAsync(o.Factory, stoppingToken);

        using var client = new MqttClientFactory().CreateMqttClient();
        var machines = DemoFactory.Machines.Select((m, i) => new SimulatedMachine(m, new Random(1000 + i), time.GetUtcNow())).ToArray();
        var seq = time.GetUtcNow().ToUnixTimeMilliseconds();
        var tick = 0L;
        using var timer = new PeriodicTimer(o.Interval, time);
        LogStarted(o.Factory, machines.Length, o.Interval.TotalMilliseconds);
        do
        {
            if (!client.IsConnected && !await TryConnectAsync(client, stoppingToken))
            {
                continue;
            }

            var now = time.GetUtcNow();
            var ts = now.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture);
            try
            {
                foreach (var machine in machines)
                {
                    var topic = $"factory/{o.Factory}/machine/{machine.Spec.Id}";
                    if (machine.NextState(tick) is { } state)
                    {
                        await PublishAsync(client, $"{topic}/status", $"{{\"seq\":{++seq},\"ts\":\"{ts}\",\"state\":\"{state}\"}}", stoppingToken);
                    }

                    await PublishAsync(client, $"{topic}/telemetry", machine.Telemetry(++seq, ts, tick), stoppingToken);
                    if (machine.PartsDue(now, out var good, out var scrap))
                    {
                        // The line's last machine finishes the parts, so its counts advance the work order.
                        var workOrder = machine.Spec.Line == "assembly" ? "WO-1001" : "WO-1002";
                        var names = machine.Spec.Id is "paint-1" or "inspect-1" ? $",\"workOrder\":\"{workOrder}\"" : "";
                        await PublishAsync(client, $"{topic}/counts", $"{{\"seq\":{++seq},\"ts\":\"{ts}\",\"good\":{good},\"scrap\":{scrap}{names}}}", stoppingToken);
                        foreach (var inspection in machine.Inspections(good, scrap, ts, workOrder))
                        {
                            await PublishAsync(client, $"{topic}/quality", inspection.Replace("{seq}", (++seq).ToString(CultureInfo.InvariantCulture), StringComparison.Ordinal), stoppingToken);
                        }
                    }
                }
            }
            catch (Exception ex) when (!stoppingToken.IsCancellationRequested)
            {
                LogPublishFailed(ex);
            }

            tick++;
        }
        while (await WaitAsync(timer, stoppingToken));
    }

    private static async Task<bool> WaitAsync(PeriodicTimer timer, CancellationToken cancellationToken)
    {
        try
        {
            return await timer.WaitForNextTickAsync(cancellationToken);
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    private async Task<bool> TryConnectAsync(IMqttClient client, CancellationToken cancellationToken)
    {
        var o = options.Value;
        var m = mqttOptions.Value;
        var builder = new MqttClientOptionsBuilder()
            .WithTcpServer(o.Host ?? m.Host, o.Port ?? m.Port)
            .WithClientId($"twin-simulator-{o.Factory}-{Environment.ProcessId}")
            .WithCleanStart(true)
            .WithTimeout(TimeSpan.FromSeconds(5));
        var username = o.Username ?? m.Username;
        if (!string.IsNullOrEmpty(username))
        {
            builder = builder.WithCredentials(username, o.Password ?? m.Password ?? "");
        }

        try
        {
            await client.ConnectAsync(builder.Build(), cancellationToken);
            return true;
        }
        catch (Exception ex) when (!cancellationToken.IsCancellationRequested)
        {
            LogPublishFailed(ex);
            return false;
        }
    }

    private static Task<MqttClientPublishResult> PublishAsync(IMqttClient client, string topic, string payload, CancellationToken cancellationToken) =>
        client.PublishAsync(
            new MqttApplicationMessageBuilder()
                .WithTopic(topic)
                .WithPayload(Encoding.UTF8.GetBytes(payload))
                .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce)
                .Build(),
            cancellationToken);

    private async Task SeedWithRetryAsync(string factory, CancellationToken cancellationToken)
    {
        for (var attempt = 1; !cancellationToken.IsCancellationRequested; attempt++)
        {
            try
            {
                await SeedAsync(factory);
                return;
            }
            catch (Exception ex) when (!cancellationToken.IsCancellationRequested)
            {
                LogSeedFailed(ex, attempt);
                await Task.Delay(TimeSpan.FromSeconds(Math.Min(attempt, 10)), time, cancellationToken);
            }
        }
    }

    private async Task SeedAsync(string factory)
    {
        foreach (var machine in DemoFactory.Machines)
        {
            await grains.GetGrain<IMachineGrain>(TwinKey.Compose(factory, machine.Id)).DefineAsync(DemoFactory.Definition(machine));
        }

        foreach (var (id, definition) in DemoFactory.Lines)
        {
            await grains.GetGrain<ILineGrain>(TwinKey.Compose(factory, id)).DefineAsync(definition);
        }

        foreach (var (id, definition, initial) in DemoFactory.Bins)
        {
            var bin = grains.GetGrain<IStockBinGrain>(TwinKey.Compose(factory, id));
            // Opening stock before master data, so the bins do not start below their reorder points.
            await bin.ApplyMovementAsync(new StockMovement($"demo-initial-{id}", MovementKind.Receipt, initial, time.GetUtcNow(), Reference: "demo opening stock"));
            await bin.DefineAsync(definition);
        }

        foreach (var (id, definition, target) in DemoFactory.WorkOrders)
        {
            var order = grains.GetGrain<IWorkOrderGrain>(TwinKey.Compose(factory, id));
            var snapshot = await order.CreateAsync(definition);
            foreach (var step in new[] { WorkOrderStatus.Released, WorkOrderStatus.InProgress })
            {
                if (snapshot.Status < step && step <= target)
                {
                    snapshot = await order.TransitionAsync(step, "demo");
                }
            }
        }
    }

    [LoggerMessage(EventId = TwinEvents.DemoFactorySimulatorStarted, Level = LogLevel.Information, Message = "Demo simulator publishing factory '{Factory}': {Machines} machines every {IntervalMs} ms")]
    private partial void LogStarted(string factory, int machines, double intervalMs);

    [LoggerMessage(EventId = TwinEvents.DemoFactorySimulatorPublishFailed, Level = LogLevel.Warning, Message = "Demo simulator cannot publish")]
    private partial void LogPublishFailed(Exception exception);

    [LoggerMessage(EventId = TwinEvents.DemoFactorySimulatorSeedFailed, Level = LogLevel.Warning, Message = "Demo simulator cannot create its master data (attempt {Attempt})")]
    private partial void LogSeedFailed(Exception exception, int attempt);

    /// <summary>One simulated machine: smooth daily-ish swings, noise, and now and then a stop.</summary>
    private sealed class SimulatedMachine(DemoFactory.MachineSpec spec, Random random, DateTimeOffset start)
    {
        private string _state = "running";
        private int _stateTicksLeft;
        private DateTimeOffset _nextParts = start.AddSeconds(5);
        private bool _announced;

        public DemoFactory.MachineSpec Spec => spec;

        public string? NextState(long tick)
        {
            if (!_announced)
            {
                _announced = true;
                return _state;
            }

            if (_stateTicksLeft > 0)
            {
                if (--_stateTicksLeft == 0)
                {
                    _state = "running";
                    return _state;
                }

                return null;
            }

            var roll = random.NextDouble();
            if (roll < 0.004)
            {
                _state = "down";
                _stateTicksLeft = random.Next(10, 40);
                return _state;
            }

            if (roll < 0.015)
            {
                _state = "idle";
                _stateTicksLeft = random.Next(5, 20);
                return _state;
            }

            return null;
        }

        public string Telemetry(long seq, string ts, long tick)
        {
            var sb = new StringBuilder(256);
            sb.Append(CultureInfo.InvariantCulture, $"{{\"seq\":{seq},\"ts\":\"{ts}\",\"values\":{{");
            var load = _state == "running" ? 1.0 : 0.35;
            for (var i = 0; i < spec.Sensors.Length; i++)
            {
                var s = spec.Sensors[i];
                var swing = s.Swing * Math.Sin((tick / 120.0) + i);
                var value = (s.Baseline * (s.Name == "temperature" ? 1 : load)) + swing + (s.Noise * Gaussian());
                if (s.Name == "temperature" && spec.Id == DemoFactory.DriftingMachine)
                {
                    // A cooling fault: the temperature creeps up about 1 °C a minute until it
                    // crosses its limit (baseline + 12 °C) and a maintenance ticket opens.
                    value += Math.Min(tick / 60.0, 20);
                }

                sb.Append(CultureInfo.InvariantCulture, $"{(i > 0 ? "," : "")}\"{s.Name}\":{Math.Round(value, 3)}");
            }

            sb.Append("},\"units\":{");
            for (var i = 0; i < spec.Sensors.Length; i++)
            {
                sb.Append(CultureInfo.InvariantCulture, $"{(i > 0 ? "," : "")}\"{spec.Sensors[i].Name}\":\"{spec.Sensors[i].Unit}\"");
            }

            sb.Append("}}");
            return sb.ToString();
        }

        private long _inspected;

        /// <summary>
        /// The inspection results of the parts just made, on the machines that inspect (the payload's
        /// "{seq}" is filled in by the caller): each part's measured characteristic, and a defect
        /// code for the scrapped ones. The shaft diameter on the inspection station drifts upwards
        /// after its baseline, so an SPC rule fires a few minutes into the demo.
        /// </summary>
        public IEnumerable<string> Inspections(int good, int scrap, string ts, string workOrder)
        {
            if (DemoFactory.Inspection(spec.Id) is not { } inspection)
            {
                yield break;
            }

            for (var i = 0; i < good + scrap; i++)
            {
                _inspected++;
                // Up to five standard deviations: far enough for every rule, not so far that every part is scrap.
                var drift = _inspected > inspection.DriftAfter && inspection.DriftPerPart > 0 ? Math.Min((_inspected - inspection.DriftAfter) * inspection.DriftPerPart, 5 * inspection.Noise) : 0;
                var value = Math.Round(inspection.Nominal + drift + (inspection.Noise * Gaussian()), 4);
                var defect = i >= good ? $",\"defect\":\"{inspection.Defects[random.Next(inspection.Defects.Length)]}\"" : "";
                yield return string.Create(
                    CultureInfo.InvariantCulture,
                    $"{{\"seq\":{{seq}},\"ts\":\"{ts}\",\"part\":\"{spec.Id}-{_inspected}\",\"workOrder\":\"{workOrder}\",\"measurements\":[{{\"characteristic\":\"{inspection.Characteristic}\",\"value\":{value},\"lsl\":{inspection.Nominal - inspection.Tolerance},\"usl\":{inspection.Nominal + inspection.Tolerance},\"nominal\":{inspection.Nominal},\"unit\":\"{inspection.Unit}\"}}]{defect}}}");
            }
        }

        public bool PartsDue(DateTimeOffset now, out int good, out int scrap)
        {
            good = 0;
            scrap = 0;
            if (now < _nextParts)
            {
                return false;
            }

            _nextParts = now.AddSeconds(5);
            if (_state != "running")
            {
                return false;
            }

            var expected = spec.PartsPerMinute / 12.0;
            var made = Math.Max(0, (int)Math.Round(expected + (Gaussian() * 0.5)));
            scrap = random.NextDouble() < 0.03 && made > 0 ? 1 : 0;
            good = made - scrap;
            return made > 0;
        }

        private double Gaussian()
        {
            var u1 = 1.0 - random.NextDouble();
            var u2 = random.NextDouble();
            return Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Sin(2.0 * Math.PI * u2);
        }
    }
}
