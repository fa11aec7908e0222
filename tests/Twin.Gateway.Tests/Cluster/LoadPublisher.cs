using System.Diagnostics;
using Twin.Testing;

namespace Twin.Gateway.Tests.Cluster;

/// <summary>
/// Publishes telemetry for a set of machines at a steady rate, each machine's sequence 1..N in
/// order, QoS 1, and records what the broker acknowledged: for each machine the acknowledged
/// sequence numbers are exactly 1..<see cref="Acknowledged"/>.
/// </summary>
public sealed class LoadPublisher
{
    private readonly string _factory;
    private readonly int _machines;
    private readonly int _perMachine;
    private readonly int _ratePerSecond;
    private readonly DateTimeOffset _start = DateTimeOffset.UtcNow.AddSeconds(-5);
    private int _published;
    private Task? _run;

    public LoadPublisher(string factory, int machines, int perMachine, int ratePerSecond)
    {
        _factory = factory;
        _machines = machines;
        _perMachine = perMachine;
        _ratePerSecond = ratePerSecond;
        Acknowledged = new int[machines];
    }

    /// <summary>Per machine, the highest sequence number the broker acknowledged (all below it were too).</summary>
    public int[] Acknowledged { get; }

    public int Published => Volatile.Read(ref _published);

    public int Total => _machines * _perMachine;

    public IEnumerable<string> MachineIds => Enumerable.Range(0, _machines).Select(Machine);

    public static string Machine(int i) => $"m-{i}";

    /// <summary>Event time of the first reading; every reading's is this plus its sequence number in milliseconds.</summary>
    public DateTimeOffset FirstEventTime => _start;

    /// <summary>The temperature sent with a sequence number: plausible, and unique per reading.</summary>
    public static double Temperature(int seq) => 20 + (seq / 100.0);

    public void Start(int brokerPort) => _run = Task.Run(() => RunAsync(brokerPort));

    /// <summary>Waits until at least <paramref name="count"/> messages were acknowledged by the broker.</summary>
    public Task WaitForAsync(int count, TimeSpan within) =>
        Wait.UntilAsync(() => Task.FromResult(Published >= count || _run!.IsFaulted), within, $"{count} messages published");

    public async Task CompleteAsync(TimeSpan within)
    {
        await _run!.WaitAsync(within);
        for (var m = 0; m < _machines; m++)
        {
            Assert.Equal(_perMachine, Acknowledged[m]);
        }
    }

    private async Task RunAsync(int brokerPort)
    {
        await using var device = await TestDevice.ConnectAsync(brokerPort, $"load-{_factory}");
        var clock = Stopwatch.StartNew();
        for (var seq = 1; seq <= _perMachine; seq++)
        {
            for (var m = 0; m < _machines; m++)
            {
                // Pace to the rate: never ahead of schedule.
                var due = TimeSpan.FromSeconds((double)_published / _ratePerSecond);
                if (due > clock.Elapsed)
                {
                    await Task.Delay(due - clock.Elapsed);
                }

                var payload = $"{{\"seq\":{seq},\"ts\":\"{_start.AddMilliseconds(seq):O}\",\"values\":{{\"temperature\":{Temperature(seq).ToString(System.Globalization.CultureInfo.InvariantCulture)},\"vibration\":{m},\"pressure\":1.5}}}}";
                await device.PublishAsync($"factory/{_factory}/machine/{Machine(m)}/telemetry", payload);
                Acknowledged[m] = seq;
                Interlocked.Increment(ref _published);
            }
        }
    }
}
