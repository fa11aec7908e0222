using Twin.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using Orleans.Hosting;
using Orleans.Runtime.Hosting;
using Orleans.Serialization;
using Orleans.Storage;
using Orleans.TestingHost;
using Twin.Grains.Infrastructure;
using Twin.Silo;
using Twin.Silo.Storage;

namespace Twin.Grains.Tests.Cluster;

/// <summary>
/// One in-process silo with the real SQLite grain storage in a throwaway folder, a fake twin
/// clock, and a counter of storage writes. Tests use unique grain keys.
/// </summary>
public sealed class ClusterFixture : IAsyncLifetime
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "twin-tests-" + Guid.NewGuid().ToString("N"));

    public InProcessTestCluster Cluster { get; private set; } = null!;

    public IClusterClient Client => Cluster.Client;

    public FakeTimeProvider Clock { get; } = new(new DateTimeOffset(2026, 11, 26, 8, 0, 0, TimeSpan.Zero));

    public WriteCounter Writes { get; } = new();

    /// <summary>The history the twins hand their readings to: records them, or holds a factory's appends until released.</summary>
    public HeldHistory History { get; } = new();

    /// <summary>The external system the twins' events go to (webhooks): takes or refuses what a test says.</summary>
    public ExternalTarget External { get; } = new();

    /// <summary>The reminder table's lookups, which a test can hold for one factory's grains.</summary>
    public ReminderGate Reminders { get; } = new();

    /// <summary>The factory KPI grains' report calls, which a test can make fail for one factory.</summary>
    public KpiOutage Kpis { get; } = new();

    /// <summary>Grain calls received, by <c>{interface}.{method} {grain id}</c>: to show what a read asked.</summary>
    public WriteCounter Calls { get; } = new();

    public async Task InitializeAsync()
    {
        Directory.CreateDirectory(_directory);
        var builder = new InProcessTestClusterBuilder(1);
        builder.ConfigureSiloHost((_, host) =>
        {
            host.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
            {
                ["Twin:Storage:Provider"] = "Sqlite",
                ["Twin:Storage:SqlitePath"] = Path.Combine(_directory, "twin.db"),
                ["Twin:Storage:FullSync"] = "false",
                ["Twin:Outbox:MaxEntries"] = "50",
                ["Twin:Outbox:FirstRetry"] = "00:00:00.2",
                ["Twin:Outbox:MaxRetryInterval"] = "00:00:01",
                // Wake reminders tick within a test's deadline (the product's default is a minute).
                ["Twin:Outbox:ReminderPeriod"] = "00:00:02",
            });
            host.Services.AddTwinSiloOptions();
        });
        builder.ConfigureSilo((_, silo) =>
        {
            silo.UseTwinGrains(cluster: null);
            silo.Services.Replace(ServiceDescriptor.Singleton(new TwinClock(Clock)));
            silo.Services.AddSingleton(Writes);
            silo.Services.Replace(ServiceDescriptor.Singleton<IOutboundDelivery>(External));
            silo.Services.Replace(ServiceDescriptor.Singleton<IHistorySink>(History));
            silo.Services.TryAddSingleton<IHistoryReader>(new Twin.Silo.History.UnavailableHistoryReader("no history store in the grain cluster tests"));
            var reminders = silo.Services.Last(d => d.ServiceType == typeof(IReminderTable));
            silo.Services.Replace(ServiceDescriptor.Singleton<IReminderTable>(sp => new GatedReminderTable(
                (IReminderTable)(reminders.ImplementationInstance ?? reminders.ImplementationFactory?.Invoke(sp) ?? ActivatorUtilities.CreateInstance(sp, reminders.ImplementationType!)),
                Reminders)));
            silo.AddIncomingGrainCallFilter(context =>
            {
                Calls.Add($"{context.InterfaceName}.{context.MethodName} {context.TargetId} <- {context.SourceId}");
                if (Kpis.Refuses(context.InterfaceName, context.MethodName, context.TargetId))
                {
                    throw new InvalidOperationException("the factory KPIs are down for this test");
                }

                return context.Invoke();
            });

            // Count the writes that reach SQLite, to prove that group commit batches them.
            silo.Services.AddGrainStorage(TwinStorage.Name, (sp, _) =>
            {
                var options = sp.GetRequiredService<IOptions<TwinStorageOptions>>().Value;
                var inner = new SqliteGrainStorage(options.SqlitePath, options.FullSync, sp.GetRequiredService<Serializer>(), sp.GetRequiredService<ILogger<SqliteGrainStorage>>());
                return new CountingStorage(inner, sp.GetRequiredService<WriteCounter>());
            });
        });
        Cluster = builder.Build();
        await Cluster.DeployAsync();
    }

    public async Task DisposeAsync()
    {
        await Cluster.StopAllSilosAsync();
        await Cluster.DisposeAsync();
        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    public sealed class WriteCounter
    {
        private readonly System.Collections.Concurrent.ConcurrentDictionary<string, int> _writes = new();

        public int For(string grainId) => _writes.GetValueOrDefault(grainId);

        public void Add(string grainId) => _writes.AddOrUpdate(grainId, 1, (_, n) => n + 1);

        public int Where(Func<string, bool> match) => _writes.Where(p => match(p.Key)).Sum(p => p.Value);

        public Dictionary<string, int> Matching(Func<string, bool> match) => _writes.Where(p => match(p.Key)).ToDictionary(p => p.Key, p => p.Value, StringComparer.Ordinal);
    }

    /// <summary>A history that writes at once, except for factories a test holds: their appends wait until released.</summary>
    public sealed class HeldHistory : IHistorySink
    {
        private readonly System.Collections.Concurrent.ConcurrentDictionary<string, TaskCompletionSource> _held = new(StringComparer.Ordinal);
        private readonly System.Collections.Concurrent.ConcurrentQueue<(string Key, HistoryPoint Point)> _written = new();

        public void Hold(string factory) => _held[factory] = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        public void Release(string factory)
        {
            if (_held.TryRemove(factory, out var gate))
            {
                gate.TrySetResult();
            }
        }

        /// <summary>As if the process holding the history queue died: the held appends are lost, never written.</summary>
        public void Lose(string factory)
        {
            if (_held.TryRemove(factory, out var gate))
            {
                gate.TrySetException(new InvalidOperationException("the history queue was lost"));
            }
        }

        /// <summary>Every point written for <paramref name="machineKey"/>, as often as it was written.</summary>
        public IReadOnlyList<HistoryPoint> Written(string machineKey) => [.. _written.Where(w => w.Key == machineKey).Select(w => w.Point)];

        public async Task AppendAsync(string machineKey, IReadOnlyList<HistoryPoint> points)
        {
            if (_held.TryGetValue(TwinKey.Split(machineKey).Factory, out var gate))
            {
                await gate.Task;
            }

            foreach (var point in points)
            {
                _written.Enqueue((machineKey, point));
            }
        }
    }

    /// <summary>An external target that takes every event except those of a factory a test marked down.</summary>
    public sealed class ExternalTarget : IOutboundDelivery
    {
        private readonly System.Collections.Concurrent.ConcurrentDictionary<string, bool> _down = new(StringComparer.Ordinal);
        private readonly System.Collections.Concurrent.ConcurrentQueue<Twin.Integration.OutboundEvent> _taken = new();

        public bool HasTargets => true;

        /// <summary>Refuses (throws for) every event of <paramref name="factory"/> until <see cref="Up"/>.</summary>
        public void Down(string factory) => _down[factory] = true;

        public void Up(string factory) => _down.TryRemove(factory, out _);

        public IReadOnlyList<Twin.Integration.OutboundEvent> Taken(string factory) => [.. _taken.Where(e => e.Factory == factory)];

        public Task DeliverAsync(Twin.Integration.OutboundEvent outboundEvent, CancellationToken cancellationToken)
        {
            if (_down.ContainsKey(outboundEvent.Factory))
            {
                throw new HttpRequestException($"target down for {outboundEvent.Factory}");
            }

            _taken.Enqueue(outboundEvent);
            return Task.CompletedTask;
        }
    }

    /// <summary>Refuses the report calls (<c>Report…</c>) to the KPI grain of a factory a test marked down, as if the send never got there.</summary>
    public sealed class KpiOutage
    {
        private readonly System.Collections.Concurrent.ConcurrentDictionary<string, bool> _down = new(StringComparer.Ordinal);

        public void Down(string factory) => _down[factory] = true;

        public void Up(string factory) => _down.TryRemove(factory, out _);

        internal bool Refuses(string interfaceName, string methodName, GrainId target) =>
            !_down.IsEmpty
            && interfaceName.Contains("IFactoryKpiGrain", StringComparison.Ordinal)
            && methodName.StartsWith("Report", StringComparison.Ordinal)
            && _down.ContainsKey(target.Key.ToString() ?? "");
    }

    /// <summary>Holds the reminder lookups (<c>ReadRow</c>) or registrations (<c>UpsertRow</c>) of one reminder (the outbox's unless told) of one factory's grains until released.</summary>
    public sealed class ReminderGate
    {
        private readonly System.Collections.Concurrent.ConcurrentDictionary<string, TaskCompletionSource> _held = new(StringComparer.Ordinal);
        private int _waiting;

        public void Hold(string factory, string reminder = Outbox.Reminder) => _held[$"read:{reminder}:{factory}"] = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        /// <summary>Holds the registrations (<c>UpsertRow</c>) of the reminder of one factory's grains until <see cref="Release"/>.</summary>
        public void HoldRegistrations(string factory, string reminder = Outbox.Reminder) => _held[$"register:{reminder}:{factory}"] = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        /// <summary>Lets every held lookup and registration of <paramref name="factory"/> go on.</summary>
        public void Release(string factory)
        {
            foreach (var key in _held.Keys.Where(k => k.EndsWith(":" + factory, StringComparison.Ordinal)))
            {
                if (_held.TryRemove(key, out var gate))
                {
                    gate.TrySetResult();
                }
            }
        }

        private readonly System.Collections.Concurrent.ConcurrentDictionary<string, int> _writes = new(StringComparer.Ordinal);

        /// <summary>Lookups waiting at a held gate now.</summary>
        public int Waiting => Volatile.Read(ref _waiting);

        /// <summary>How often the reminder of the grain was registered (<c>UpsertRow</c>) since the silo started.</summary>
        public int Registrations(GrainId grainId, string reminderName) => _writes.GetValueOrDefault($"register:{reminderName}:{grainId}");

        /// <summary>How often the reminder of the grain was removed (<c>RemoveRow</c>) since the silo started.</summary>
        public int Removals(GrainId grainId, string reminderName) => _writes.GetValueOrDefault($"remove:{reminderName}:{grainId}");

        internal void Count(string what, GrainId grainId, string reminderName) =>
            _writes.AddOrUpdate($"{what}:{reminderName}:{grainId}", 1, (_, n) => n + 1);

        internal async Task PassAsync(GrainId grainId, string reminderName, bool registration = false)
        {
            if (_held.IsEmpty)
            {
                return;
            }

            var key = grainId.Key.ToString() ?? "";
            var slash = key.IndexOf('/', StringComparison.Ordinal);
            if (slash > 0 && _held.TryGetValue($"{(registration ? "register" : "read")}:{reminderName}:{key[..slash]}", out var gate))
            {
                Interlocked.Increment(ref _waiting);
                try
                {
                    await gate.Task;
                }
                finally
                {
                    Interlocked.Decrement(ref _waiting);
                }
            }
        }
    }

    private sealed class GatedReminderTable(IReminderTable inner, ReminderGate gate) : IReminderTable
    {
        public Task StartAsync(CancellationToken cancellationToken = default) => inner.StartAsync(cancellationToken);

        public Task StopAsync(CancellationToken cancellationToken = default) => inner.StopAsync(cancellationToken);

        public Task<ReminderTableData> ReadRows(GrainId grainId) => inner.ReadRows(grainId);

        public Task<ReminderTableData> ReadRows(uint begin, uint end) => inner.ReadRows(begin, end);

        public async Task<ReminderEntry?> ReadRow(GrainId grainId, string reminderName)
        {
            await gate.PassAsync(grainId, reminderName);
            return await inner.ReadRow(grainId, reminderName);
        }

        public async Task<string?> UpsertRow(ReminderEntry entry)
        {
            await gate.PassAsync(entry.GrainId, entry.ReminderName, registration: true);
            gate.Count("register", entry.GrainId, entry.ReminderName);
            return await inner.UpsertRow(entry);
        }

        public Task<bool> RemoveRow(GrainId grainId, string reminderName, string eTag)
        {
            gate.Count("remove", grainId, reminderName);
            return inner.RemoveRow(grainId, reminderName, eTag);
        }

        public Task TestOnlyClearTable() => inner.TestOnlyClearTable();
    }

    private sealed class CountingStorage(IGrainStorage inner, WriteCounter counter) : IGrainStorage
    {
        public Task ReadStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState) => inner.ReadStateAsync(stateName, grainId, grainState);

        public async Task WriteStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
        {
            await inner.WriteStateAsync(stateName, grainId, grainState);
            counter.Add(grainId.ToString());
        }

        public Task ClearStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState) => inner.ClearStateAsync(stateName, grainId, grainState);
    }
}

[CollectionDefinition(Name)]
public sealed class ClusterCollection : ICollectionFixture<ClusterFixture>
{
    public const string Name = "cluster";
}
