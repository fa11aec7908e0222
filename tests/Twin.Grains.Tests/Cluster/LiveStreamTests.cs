using System.Collections.Concurrent;
using Microsoft.Extensions.Configuration;
using Orleans.Hosting;
using Orleans.Streams;
using Orleans.TestingHost;
using Twin.Live;
using Twin.Machines;
using Twin.Silo;

namespace Twin.Grains.Tests.Cluster;

/// <summary>A silo with the product's live streams and a client subscribed to a machine's stream, as a gateway is.</summary>
public sealed class LiveStreamFixture : IAsyncLifetime
{
    public InProcessTestCluster Cluster { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        var builder = new InProcessTestClusterBuilder(1);
        builder.ConfigureSiloHost((_, host) => host.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Twin:Storage:Provider"] = "Memory",
            ["Twin:Live:MaxUpdatesPerSecond"] = "20",
        }));
        builder.ConfigureSilo((_, silo) => silo.UseTwinGrains(cluster: null));
        builder.ConfigureClient(client => client.AddMemoryStreams(TwinTopic.StreamProvider, s => s.ConfigureStreamPubSub(StreamPubSubType.ExplicitGrainBasedOnly)));
        Cluster = builder.Build();
        await Cluster.DeployAsync();
    }

    public async Task DisposeAsync()
    {
        await Cluster.StopAllSilosAsync();
        await Cluster.DisposeAsync();
    }
}

public sealed class LiveStreamTests(LiveStreamFixture fixture) : IClassFixture<LiveStreamFixture>
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 26, 8, 0, 0, TimeSpan.Zero);

    private static TelemetryMessage Reading(long seq) => new(seq, T0.AddMilliseconds(seq), [new SensorReading("temperature", seq, "degC")]);

    [Fact]
    public async Task A_machine_publishes_its_durable_changes_only_while_it_is_watched_throttled_latest_last()
    {
        var key = "live/m-" + Guid.NewGuid().ToString("N")[..8];
        var topic = TwinTopic.FromKey(TwinTopicKind.Machine, key);
        var machine = fixture.Cluster.Client.GetGrain<IMachineGrain>(key);
        var changes = new ConcurrentQueue<TwinChange>();
        var stream = fixture.Cluster.Client.GetStreamProvider(TwinTopic.StreamProvider).GetStream<TwinChange>(StreamId.Create(topic.StreamNamespace, topic.Key));
        var handle = await stream.SubscribeAsync((change, _) =>
        {
            changes.Enqueue(change);
            return Task.CompletedTask;
        });
        try
        {
            // Unwatched (no lease): durable, but nothing published. The stream keeps order, so had
            // these been published they would arrive before anything below.
            for (var seq = 1; seq <= 5; seq++)
            {
                await machine.IngestAsync([Reading(seq)]);
            }

            await machine.KeepLiveAsync();
            var clock = System.Diagnostics.Stopwatch.StartNew();
            for (var seq = 6; seq <= 200; seq++)
            {
                await machine.IngestAsync([Reading(seq)]);
            }

            var elapsed = clock.Elapsed;
            await WaitAsync(() => changes.Any(c => c.Version == 200), "version 200 published");
            var versions = changes.Select(c => c.Version).ToList();
            Assert.Equal(6, versions[0]);
            Assert.Equal(versions.Order(), versions);
            Assert.Equal(versions.Distinct().Count(), versions.Count);
            Assert.All(changes, c => Assert.Equal(topic.ToString(), c.Topic));
            Assert.Equal(200, changes.Last().Machine!.Sensors.Single().Value);

            // Leading edge at once, then at most 20 a second (50 ms apart) until the last.
            Assert.True(versions.Count <= (clock.Elapsed / TimeSpan.FromMilliseconds(50)) + 2, $"{versions.Count} changes in {elapsed.TotalMilliseconds:F0} ms");
        }
        finally
        {
            await handle.UnsubscribeAsync();
        }
    }

    private static async Task WaitAsync(Func<bool> condition, string what)
    {
        var until = DateTime.UtcNow.AddSeconds(10);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < until, $"not within 10 s: {what}");
            await Task.Delay(20);
        }
    }
}
