using System.Diagnostics;
using System.Globalization;
using System.Text;
using MQTTnet;
using MQTTnet.Protocol;

namespace Twin.Bench;

/// <summary>
/// Simulated machines publishing QoS 1 telemetry over a few MQTT connections (a machine always
/// uses the same connection, so its messages leave in order), each with a bounded window of
/// publishes awaiting the broker's PUBACK.
/// </summary>
public sealed class Devices : IAsyncDisposable
{
    private readonly List<IMqttClient> _clients = [];
    private readonly int _window;

    private Devices(int window) => _window = window;

    public int Connections => _clients.Count;

    public static readonly DateTimeOffset EventTimeBase = DateTimeOffset.UtcNow.AddMinutes(-30);

    public static async Task<Devices> ConnectAsync(int port, int connections, int window = 200)
    {
        var devices = new Devices(window);
        try
        {
            for (var i = 0; i < connections; i++)
            {
                var client = new MqttClientFactory().CreateMqttClient();
                devices._clients.Add(client);
                var options = new MqttClientOptionsBuilder()
                    .WithTcpServer("127.0.0.1", port)
                    .WithClientId($"bench-device-{i}-{Guid.NewGuid():N}"[..30])
                    .WithCleanStart(true)
                    .WithTimeout(TimeSpan.FromSeconds(10))
                    .Build();
                await client.ConnectAsync(options);
            }
        }
        catch
        {
            await devices.DisposeAsync();
            throw;
        }

        return devices;
    }

    /// <summary>A telemetry payload with three values; <c>pressure</c> carries the sequence number (seq / 1000 bar) so a receiver can tell which reading it sees.</summary>
    public static byte[] Telemetry(long seq, int values = 3)
    {
        var ts = EventTimeBase.AddMilliseconds(seq).ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture);
        var text = new StringBuilder(160);
        text.Append(CultureInfo.InvariantCulture, $"{{\"seq\":{seq},\"ts\":\"{ts}\",\"values\":{{\"pressure\":{seq / 1000.0:0.000},\"temperature\":{20 + (seq % 100 * 0.1):0.0},\"vibration\":{2 + (seq % 7 * 0.1):0.0}");
        for (var i = 3; i < values; i++)
        {
            text.Append(CultureInfo.InvariantCulture, $",\"s{i}\":{i + (seq % 10)}");
        }

        text.Append("},\"units\":{\"pressure\":\"bar\",\"temperature\":\"degC\",\"vibration\":\"mm/s\"}}");
        return Encoding.UTF8.GetBytes(text.ToString());
    }

    public static string Topic(string factory, string machine) => $"factory/{factory}/machine/{machine}/telemetry";

    public static string Machine(int index) => $"m{index:D5}";

    /// <summary>
    /// Publishes sequence numbers <paramref name="firstSeq"/>.. for every machine, round by round
    /// (machine 0..n-1 then the next number). <paramref name="rate"/> paces the total (messages/s);
    /// null publishes as fast as the broker acknowledges. Stops at <paramref name="deadline"/>.
    /// Returns the messages acknowledged by the broker.
    /// </summary>
    public async Task<long> PublishAsync(
        Func<int, string> topicOf,
        int machines,
        long firstSeq,
        int messagesPerMachine,
        double? rate,
        TimeSpan deadline,
        Action<int, long>? publishing = null)
    {
        var acknowledged = 0L;
        var failures = 0L;
        var clock = Stopwatch.StartNew();
        var perConnectionRate = rate / _clients.Count;
        var tasks = _clients.Select((client, c) => Task.Run(async () =>
        {
            using var window = new SemaphoreSlim(_window, _window);
            var mine = Enumerable.Range(0, machines).Where(m => m % _clients.Count == c).ToArray();
            var topics = mine.Select(topicOf).ToArray();
            var sent = 0L;
            for (var round = 0; round < messagesPerMachine && clock.Elapsed < deadline; round++)
            {
                var seq = firstSeq + round;
                var payload = Telemetry(seq);
                for (var i = 0; i < mine.Length; i++)
                {
                    if (perConnectionRate is { } r && sent % 16 == 0)
                    {
                        var ahead = TimeSpan.FromSeconds(sent / r) - clock.Elapsed;
                        if (ahead > TimeSpan.FromMilliseconds(2))
                        {
                            await Task.Delay(ahead);
                        }
                    }

                    await window.WaitAsync();
                    publishing?.Invoke(mine[i], seq);
                    var message = new MqttApplicationMessageBuilder()
                        .WithTopic(topics[i])
                        .WithPayload(payload)
                        .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce)
                        .Build();
                    sent++;
                    _ = client.PublishAsync(message).ContinueWith(
                        t =>
                        {
                            if (t.IsCompletedSuccessfully && t.Result.IsSuccess)
                            {
                                Interlocked.Increment(ref acknowledged);
                            }
                            else
                            {
                                Interlocked.Increment(ref failures);
                            }

                            window.Release();
                        },
                        TaskScheduler.Default);
                }
            }

            // Wait for the window to drain (every PUBACK back).
            for (var i = 0; i < _window; i++)
            {
                if (!await window.WaitAsync(TimeSpan.FromSeconds(30)))
                {
                    break;
                }
            }
        }));
        await Task.WhenAll(tasks);
        if (failures > 0)
        {
            throw new InvalidOperationException($"{failures} publishes failed at the broker");
        }

        return acknowledged;
    }

    public ValueTask DisposeAsync() => DisconnectAllAsync(_clients);

    /// <summary>Disconnects and disposes every client; one that is gone already is only disposed.</summary>
    public static async ValueTask DisconnectAllAsync(IEnumerable<IMqttClient> clients)
    {
        foreach (var client in clients)
        {
            try
            {
                if (client.IsConnected)
                {
                    await client.DisconnectAsync();
                }
            }
            catch (Exception ex) when (ex is MQTTnet.Exceptions.MqttCommunicationException or OperationCanceledException)
            {
            }

            client.Dispose();
        }
    }
}
