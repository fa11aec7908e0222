using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using MQTTnet;
using MQTTnet.Protocol;

namespace Twin.Testing.Faults;

/// <summary>
/// Devices publishing QoS 1 telemetry and part counts at a steady total rate, each machine in its
/// own loop, and recording exactly what the broker acknowledged. A publish that fails (broker
/// restarting, connection lost) is sent again until acknowledged, as a device's MQTT client does,
/// so the broker may hold it twice: the twin must take it once. Devices can also be told to
/// restart (numbering from 1 again, with or without a new <c>source</c>), to send recent messages
/// again, and to hold one message back far beyond the twin's window before sending it.
/// </summary>
public sealed class ChaosLoad : IAsyncDisposable
{
    /// <summary>Every tenth message of a machine is a counts message: one good part for the machine's work order.</summary>
    public const int CountsEvery = 10;

    private readonly string _factory;
    private readonly int _brokerPort;
    private readonly double _ratePerMachine;
    private readonly Device[] _devices;
    private readonly Connection[] _connections;
    private readonly DateTimeOffset _firstEventTime = DateTimeOffset.UtcNow.AddMinutes(-1);
    private readonly CancellationTokenSource _stop = new();
    private readonly ConcurrentQueue<string> _events = new();
    private Task[] _loops = [];
    private volatile TaskCompletionSource _online = Open();

    public ChaosLoad(string factory, int brokerPort, int machines, double ratePerSecond, int connections = 4)
    {
        _factory = factory;
        _brokerPort = brokerPort;
        _ratePerMachine = ratePerSecond / machines;
        _devices = [.. Enumerable.Range(0, machines).Select(m => new Device(Machine(m)))];
        _connections = [.. Enumerable.Range(0, connections).Select(c => new Connection(brokerPort, $"chaos-{factory}-{c}"))];
    }

    public static string Machine(int m) => $"m-{m:D2}";

    public static string WorkOrder(int m) => $"WO-{m:D2}";

    /// <summary>Event time of reading <paramref name="index"/> (a machine's readings are 1 ms apart, rising across restarts).</summary>
    public DateTimeOffset EventTime(long index) => _firstEventTime.AddMilliseconds(index);

    public DateTimeOffset FirstEventTime => _firstEventTime;

    public int Machines => _devices.Length;

    /// <summary>The temperature sent with a machine's reading number <paramref name="index"/>: plausible and unique.</summary>
    public static double Temperature(long index) => 20 + (index / 1000.0);

    public long Acknowledged => _devices.Sum(d => Volatile.Read(ref d.AcknowledgedCount));

    /// <summary>What happened to the devices, in order (restarts, repeats, held messages).</summary>
    public IEnumerable<string> Events => _events;

    public async Task StartAsync()
    {
        await Task.WhenAll(_connections.Select(c => c.ConnectAsync(_stop.Token)));
        _loops = [.. _devices.Select((d, m) => Task.Run(() => RunAsync(d, _connections[m % _connections.Length])))];
    }

    /// <summary>Stops publishing; everything held back is sent first. Returns what each machine's twin must hold.</summary>
    public async Task<IReadOnlyList<MachineExpectation>> StopAsync(TimeSpan within)
    {
        await _stop.CancelAsync();
        await Task.WhenAll(_loops).WaitAsync(within);
        foreach (var (device, m) in _devices.Select((d, m) => (d, m)))
        {
            if (device.Held is { } held)
            {
                device.Held = null;
                await PublishUntilAcknowledgedAsync(_connections[m % _connections.Length], held, within);
                device.Acknowledge(held);
            }
        }

        return [.. _devices.Select(d => d.Expectation())];
    }

    /// <summary>Devices stop sending (each waits before its next attempt) until <see cref="Reconnect"/>.</summary>
    public void Disconnect() => _online = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

    public void Reconnect() => _online.TrySetResult();

    private static TaskCompletionSource Open()
    {
        var open = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        open.SetResult();
        return open;
    }

    /// <summary>The device restarts: its numbering starts at 1 again, under a new <c>source</c> when <paramref name="newSource"/>.</summary>
    public void Restart(int machine, bool newSource)
    {
        var device = _devices[machine];
        lock (device)
        {
            device.Seq = 0;
            if (newSource)
            {
                device.Boot++;
                device.Source = $"boot-{device.Boot}";
            }
        }

        _events.Enqueue($"{Machine(machine)} restarted{(newSource ? $" as source {device.Source}" : " (same source)")}");
    }

    /// <summary>
    /// The device sends <paramref name="count"/> acknowledged messages again, unchanged, starting
    /// <paramref name="back"/> messages behind its newest (beyond the twin's 1,024-number window when larger).
    /// </summary>
    public void Repeat(int machine, int count, int back)
    {
        var device = _devices[machine];
        lock (device)
        {
            device.RepeatCount = count;
            device.RepeatBack = Math.Max(back, count);
        }

        _events.Enqueue($"{Machine(machine)} sends {count} messages again from {back} behind its newest");
    }

    /// <summary>The device's next message is held back until <paramref name="after"/> more have gone out (beyond the twin's 1,024-number window).</summary>
    public void HoldBack(int machine, int after)
    {
        var device = _devices[machine];
        lock (device)
        {
            device.HoldAfter = after;
        }

        _events.Enqueue($"{Machine(machine)} holds its next message back for {after} messages");
    }

    private async Task RunAsync(Device device, Connection connection)
    {
        var clock = Stopwatch.StartNew();
        long sent = 0;
        while (!_stop.IsCancellationRequested)
        {
            // Paced per machine: never ahead of schedule.
            var due = TimeSpan.FromSeconds(sent / _ratePerMachine);
            if (due > clock.Elapsed)
            {
                try
                {
                    await Task.Delay(due - clock.Elapsed, _stop.Token);
                }
                catch (OperationCanceledException)
                {
                    break;
                }
            }

            sent++;
            Message message;
            Message? release = null;
            var repeats = new List<Message>();
            lock (device)
            {
                message = device.Next(this);
                if (device.RepeatCount > 0)
                {
                    var start = Math.Max(0, device.Recent.Count - device.RepeatBack);
                    repeats.AddRange(device.Recent.Skip(start).Take(device.RepeatCount));
                    device.RepeatCount = 0;
                }

                if (device.HoldAfter > 0 && device.Held is null)
                {
                    device.Held = message;
                    device.HeldFor = device.HoldAfter;
                    device.HoldAfter = 0;
                    continue;
                }

                if (device.Held is not null && --device.HeldFor <= 0)
                {
                    release = device.Held;
                    device.Held = null;
                }
            }

            foreach (var repeat in repeats)
            {
                await PublishUntilAcknowledgedAsync(connection, repeat, TimeSpan.FromMinutes(5));
                Interlocked.Increment(ref device.RepeatedCount);
            }

            await PublishUntilAcknowledgedAsync(connection, message, TimeSpan.FromMinutes(5));
            device.Acknowledge(message);
            if (release is not null)
            {
                await PublishUntilAcknowledgedAsync(connection, release, TimeSpan.FromMinutes(5));
                device.Acknowledge(release);
                _events.Enqueue($"{device.Name} sent its held message (seq {release.Seq}) after {message.Index - release.Index} later ones");
            }
        }
    }

    private async Task PublishUntilAcknowledgedAsync(Connection connection, Message message, TimeSpan within)
    {
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            await _online.Task;
            if (await connection.TryPublishAsync(message.Topic, message.Payload, CancellationToken.None))
            {
                return;
            }

            if (deadline.Elapsed > within)
            {
                throw new TimeoutException($"{message.Topic} seq {message.Seq} not acknowledged by the broker within {within}");
            }

            await Task.Delay(100);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        foreach (var connection in _connections)
        {
            await connection.DisposeAsync();
        }

        _stop.Dispose();
    }

    /// <summary>What a machine's twin must hold once everything acknowledged is in.</summary>
    /// <param name="Messages">Distinct messages the broker acknowledged (repeats not counted).</param>
    /// <param name="Temperatures">The temperature of every acknowledged telemetry message, in event-time order.</param>
    /// <param name="Good">Good parts in acknowledged counts messages.</param>
    public sealed record MachineExpectation(string Machine, string WorkOrder, long Messages, IReadOnlyList<double> Temperatures, long Good, long Repeated);

    private sealed record Message(string Topic, string Payload, long Seq, long Index, bool IsCounts, double Temperature);

    private sealed class Device(string name)
    {
        public string Name { get; } = name;

        public string? Source { get; set; }

        public int Boot { get; set; }

        public long Seq { get; set; }

        /// <summary>The machine's reading number across restarts: event time and value come from it.</summary>
        public long Index { get; set; }

        public int RepeatCount { get; set; }

        public int RepeatBack { get; set; }

        public int HoldAfter { get; set; }

        public Message? Held { get; set; }

        public int HeldFor { get; set; }

        public long AcknowledgedCount;

        public long RepeatedCount;

        public List<Message> Recent { get; } = [];

        private readonly SortedDictionary<long, double> _temperatures = [];
        private long _good;

        public Message Next(ChaosLoad load)
        {
            Seq++;
            Index++;
            var ts = load.EventTime(Index).ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture);
            var source = Source is null ? "" : $"\"source\":\"{Source}\",";
            var machine = $"factory/{load._factory}/machine/{Name}";
            if (Index % CountsEvery == 0)
            {
                return new Message($"{machine}/counts", $"{{{source}\"seq\":{Seq},\"ts\":\"{ts}\",\"good\":1,\"scrap\":0,\"workOrder\":\"WO-{Name[2..]}\"}}", Seq, Index, true, 0);
            }

            var temperature = Temperature(Index);
            return new Message(
                $"{machine}/telemetry",
                $"{{{source}\"seq\":{Seq},\"ts\":\"{ts}\",\"values\":{{\"temperature\":{temperature.ToString("R", CultureInfo.InvariantCulture)},\"pressure\":1.5}}}}",
                Seq,
                Index,
                false,
                temperature);
        }

        public void Acknowledge(Message message)
        {
            lock (this)
            {
                if (message.IsCounts)
                {
                    _good++;
                }
                else
                {
                    _temperatures[message.Index] = message.Temperature;
                }

                Recent.Add(message);
                if (Recent.Count > 4_000)
                {
                    Recent.RemoveRange(0, 2_000);
                }
            }

            Interlocked.Increment(ref AcknowledgedCount);
        }

        public MachineExpectation Expectation()
        {
            lock (this)
            {
                return new MachineExpectation(Name, $"WO-{Name[2..]}", Volatile.Read(ref AcknowledgedCount), [.. _temperatures.Values], _good, Volatile.Read(ref RepeatedCount));
            }
        }
    }

    /// <summary>One MQTT connection of the devices, reconnected whenever it is lost.</summary>
    private sealed class Connection(int port, string clientId) : IAsyncDisposable
    {
        private readonly IMqttClient _client = new MqttClientFactory().CreateMqttClient();
        private readonly SemaphoreSlim _connecting = new(1, 1);

        public async Task ConnectAsync(CancellationToken cancellationToken)
        {
            await _connecting.WaitAsync(cancellationToken);
            try
            {
                if (_client.IsConnected)
                {
                    return;
                }

                var options = new MqttClientOptionsBuilder()
                    .WithTcpServer("127.0.0.1", port)
                    .WithClientId(clientId)
                    .WithCleanStart(true)
                    .WithTimeout(TimeSpan.FromSeconds(5))
                    .Build();
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                timeout.CancelAfter(TimeSpan.FromSeconds(5));
                await _client.ConnectAsync(options, timeout.Token);
            }
            finally
            {
                _connecting.Release();
            }
        }

        public async Task<bool> TryPublishAsync(string topic, string payload, CancellationToken cancellationToken)
        {
            try
            {
                if (!_client.IsConnected)
                {
                    await ConnectAsync(cancellationToken);
                }

                var message = new MqttApplicationMessageBuilder()
                    .WithTopic(topic)
                    .WithPayload(Encoding.UTF8.GetBytes(payload))
                    .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce)
                    .Build();
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                timeout.CancelAfter(TimeSpan.FromSeconds(10));
                var result = await _client.PublishAsync(message, timeout.Token);
                return result.IsSuccess;
            }
            catch (Exception)
            {
                return false;
            }
        }

        public async ValueTask DisposeAsync()
        {
            try
            {
                if (_client.IsConnected)
                {
                    await _client.DisconnectAsync();
                }
            }
            catch (Exception)
            {
                // The broker is gone already.
            }

            _client.Dispose();
            _connecting.Dispose();
        }
    }
}
