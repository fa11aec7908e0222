using System.Collections.Concurrent;
using Microsoft.AspNetCore.SignalR;
using Microsoft.Extensions.Options;
using System.Collections.Immutable;
using Twin.Factories;
using Twin.Lines;
using Twin.Live;
using Twin.Machines;

namespace Twin.Gateway.Live;

/// <summary>Live updates to browsers (<c>Twin:Live</c>).</summary>
public sealed class LiveOptions
{
    public const string Section = "Twin:Live";

    /// <summary>Most updates per second one twin sends to clients; in between, the latest state wins.</summary>
    public double MaxUpdatesPerSecond { get; set; } = 10;

    /// <summary>Most twins one hub connection may watch at once.</summary>
    public int MaxSubscriptionsPerConnection { get; set; } = 2000;

    /// <summary>Subscribe calls per second one connection may make, after a first burst of <see cref="SubscribeBurst"/>.</summary>
    public int SubscribesPerSecond { get; set; } = 100;

    /// <summary>Subscribe calls one connection may make at once (a dashboard opening a whole factory).</summary>
    public int SubscribeBurst { get; set; } = 2000;

    /// <summary>Hub connections one identity (the token's <c>sub</c>) may hold at once on this gateway; with authentication only.</summary>
    public int MaxConnectionsPerIdentity { get; set; } = 20;
}

/// <summary>
/// This gateway's one subscription per twin that any of its clients watches: the twin pushes to
/// it (a grain observer), and it fans out to the SignalR group of that twin, coalesced per twin
/// (latest wins) so a hot twin cannot flood clients. No backplane: every gateway subscribes for
/// its own clients, the cluster is the backplane.
/// </summary>
public sealed partial class LiveFeed : ITwinObserver, IHostedService, IDisposable
{
    private readonly IGrainFactory _grains;
    private readonly IHubContext<TwinHub> _hub;
    private readonly ILogger<LiveFeed> _logger;
    private readonly TimeSpan _interval;
    private readonly long _intervalMs;
    private readonly ConcurrentDictionary<string, int> _watchers = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, Outlet> _outlets = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, long> _sent = new(StringComparer.Ordinal);
    private readonly CancellationTokenSource _stopping = new();
    private readonly ConcurrentDictionary<string, int> _lineWatchers = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, List<string>> _lineMachines = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, byte> _dirtyLines = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, int> _factoryWatchers = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, List<string>> _factoryLines = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, byte> _dirtyFactories = new(StringComparer.Ordinal);
    private ITwinObserver? _reference;
    private Task? _loop;

    public LiveFeed(IGrainFactory grains, IHubContext<TwinHub> hub, IOptions<LiveOptions> options, ILogger<LiveFeed> logger)
    {
        _grains = grains;
        _hub = hub;
        _logger = logger;
        _interval = TimeSpan.FromSeconds(1 / Math.Max(0.1, options.Value.MaxUpdatesPerSecond));
        _intervalMs = Math.Max(1, (long)_interval.TotalMilliseconds);
    }

    public static string Group(string topic) => "twin:" + topic;

    /// <summary>Parses <c>machine:{factory}/{machine}</c>; null when it is not a topic.</summary>
    public static string? MachineKey(string topic)
    {
        if (!topic.StartsWith("machine:", StringComparison.Ordinal))
        {
            return null;
        }

        var key = topic["machine:".Length..];
        var slash = key.IndexOf('/', StringComparison.Ordinal);
        return slash > 0 && TwinKey.IsValidId(key[..slash], out _) && TwinKey.IsValidId(key[(slash + 1)..], out _) ? key : null;
    }

    public Task OnChangedAsync(TwinChange change)
    {
        // A machine change goes out at once unless its twin sent one within the interval; then
        // the newest waits for the interval's end (latest wins) and older ones are dropped.
        if (change.Topic.StartsWith("machine:", StringComparison.Ordinal) && _watchers.ContainsKey(change.Topic["machine:".Length..]))
        {
            var outlet = _outlets.GetOrAdd(change.Topic, static _ => new Outlet());
            bool start;
            lock (outlet)
            {
                if (outlet.Pending is null || change.Version > outlet.Pending.Version)
                {
                    outlet.Pending = change;
                }

                start = !outlet.Pumping;
                outlet.Pumping = true;
            }

            if (start)
            {
                _ = PumpAsync(change.Topic, outlet);
            }
        }

        if (change.Machine?.Line is { } line)
        {
            var lineKey = $"{change.Machine.Factory}/{line}";
            if (_lineWatchers.ContainsKey(lineKey))
            {
                _dirtyLines[lineKey] = 0;
            }

            if (_factoryWatchers.ContainsKey(change.Machine.Factory))
            {
                _dirtyFactories[change.Machine.Factory] = 0;
            }
        }

        return Task.CompletedTask;
    }

    /// <summary>A client watches a line: its machines are watched so their changes refresh it.</summary>
    public async Task<LineSnapshot> WatchLineAsync(string lineKey)
    {
        var snapshot = await _grains.GetGrain<ILineGrain>(lineKey).GetSnapshotAsync();
        if (_lineWatchers.AddOrUpdate(lineKey, 1, (_, n) => n + 1) == 1)
        {
            var machines = snapshot.Machines.Select(m => TwinKey.Compose(snapshot.Factory, m.Id)).ToList();
            _lineMachines[lineKey] = machines;
            foreach (var machine in machines)
            {
                await WatchAsync(machine);
            }
        }

        return snapshot;
    }

    public async Task UnwatchLineAsync(string lineKey)
    {
        if (_lineWatchers.AddOrUpdate(lineKey, 0, (_, n) => Math.Max(0, n - 1)) == 0)
        {
            _lineWatchers.TryRemove(new KeyValuePair<string, int>(lineKey, 0));
            if (_lineMachines.TryRemove(lineKey, out var machines))
            {
                foreach (var machine in machines)
                {
                    await UnwatchAsync(machine);
                }
            }
        }
    }

    /// <summary>A client watches a whole factory: every line of it is watched.</summary>
    public async Task<FactoryView> WatchFactoryAsync(string factory)
    {
        if (_factoryWatchers.AddOrUpdate(factory, 1, (_, n) => n + 1) == 1)
        {
            var lines = await _grains.GetGrain<IFactoryGrain>(factory).ListAsync(TwinKind.Line);
            _factoryLines[factory] = [.. lines.Select(l => TwinKey.Compose(factory, l))];
            foreach (var line in _factoryLines[factory])
            {
                await WatchLineAsync(line);
            }
        }

        return await FactoryViewAsync(factory);
    }

    public async Task UnwatchFactoryAsync(string factory)
    {
        if (_factoryWatchers.AddOrUpdate(factory, 0, (_, n) => Math.Max(0, n - 1)) == 0)
        {
            _factoryWatchers.TryRemove(new KeyValuePair<string, int>(factory, 0));
            if (_factoryLines.TryRemove(factory, out var lines))
            {
                foreach (var line in lines)
                {
                    await UnwatchLineAsync(line);
                }
            }
        }
    }

    /// <summary>A line's version for clients: its own plus its machines', so it rises with any of them.</summary>
    public static long VersionOf(LineSnapshot line) => line.Version + line.Machines.Sum(m => m.Version);

    public async Task<FactoryView> FactoryViewAsync(string factory)
    {
        var ids = await _grains.GetGrain<IFactoryGrain>(factory).ListAsync(TwinKind.Line);
        var lines = await Task.WhenAll(ids.Select(l => _grains.GetGrain<ILineGrain>(TwinKey.Compose(factory, l)).GetSnapshotAsync()));
        var byStatus = lines.SelectMany(l => l.Machines).GroupBy(m => m.Status).ToImmutableDictionary(g => g.Key, g => g.Count());
        return new FactoryView(factory, [.. lines], byStatus);
    }

    /// <summary>A client started watching a twin: subscribe to it if this gateway did not yet.</summary>
    public async Task WatchAsync(string machineKey)
    {
        if (_watchers.AddOrUpdate(machineKey, 1, (_, n) => n + 1) == 1)
        {
            await _grains.GetGrain<IMachineGrain>(machineKey).SubscribeAsync(Reference);
        }
    }

    public async Task UnwatchAsync(string machineKey)
    {
        if (_watchers.AddOrUpdate(machineKey, 0, (_, n) => Math.Max(0, n - 1)) == 0)
        {
            _watchers.TryRemove(new KeyValuePair<string, int>(machineKey, 0));
            _sent.TryRemove("machine:" + machineKey, out _);
            if (_outlets.TryGetValue("machine:" + machineKey, out var outlet))
            {
                lock (outlet)
                {
                    if (!outlet.Pumping)
                    {
                        _outlets.TryRemove("machine:" + machineKey, out _);
                    }
                }
            }

            await _grains.GetGrain<IMachineGrain>(machineKey).UnsubscribeAsync(Reference);
        }
    }

    /// <summary>Records what a client was sent directly (its snapshot), so older pushes are not sent after it.</summary>
    public void Sent(string topic, long version) => _sent.AddOrUpdate(topic, version, (_, v) => Math.Max(v, version));

    public Task StartAsync(CancellationToken cancellationToken)
    {
        _loop = Task.Run(() => RunAsync(_stopping.Token), CancellationToken.None);
        return Task.CompletedTask;
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        await _stopping.CancelAsync();
        if (_loop is not null)
        {
            await Task.WhenAny(_loop, Task.Delay(Timeout.Infinite, cancellationToken));
        }
    }

    public void Dispose() => _stopping.Dispose();

    private ITwinObserver Reference => _reference ??= _grains.CreateObjectReference<ITwinObserver>(this);

    private async Task RunAsync(CancellationToken stoppingToken)
    {
        var renewEvery = TimeSpan.FromSeconds(20);
        var lastRenew = DateTime.UtcNow;
        using var timer = new PeriodicTimer(_interval);
        while (await WaitAsync(timer, stoppingToken))
        {
            foreach (var lineKey in _dirtyLines.Keys)
            {
                _dirtyLines.TryRemove(lineKey, out _);
                await SendAsync(async () =>
                {
                    var line = await _grains.GetGrain<ILineGrain>(lineKey).GetSnapshotAsync();
                    return new TwinChange($"line:{lineKey}", VersionOf(line), null, line);
                }, stoppingToken);
            }

            foreach (var factory in _dirtyFactories.Keys)
            {
                _dirtyFactories.TryRemove(factory, out _);
                await SendAsync(async () =>
                {
                    var view = await FactoryViewAsync(factory);
                    return new TwinChange($"factory:{factory}", view.Lines.Sum(VersionOf), null, null, view);
                }, stoppingToken);
            }

            // Observer subscriptions lapse unless renewed, so a gateway that died leaves nothing behind.
            if (DateTime.UtcNow - lastRenew > renewEvery)
            {
                lastRenew = DateTime.UtcNow;
                foreach (var key in _watchers.Keys)
                {
                    try
                    {
                        await _grains.GetGrain<IMachineGrain>(key).SubscribeAsync(Reference);
                    }
                    catch (Exception ex) when (!stoppingToken.IsCancellationRequested)
                    {
                        LogSendFailed(ex, key);
                    }
                }
            }
        }
    }

    /// <summary>
    /// Sends one machine topic's changes in version order, one at a time, at most one per
    /// interval; ends when nothing is pending. Topics pump independently, so a busy twin or a
    /// slow group never delays another twin's change.
    /// </summary>
    private async Task PumpAsync(string topic, Outlet outlet)
    {
        var stoppingToken = _stopping.Token;
        try
        {
            while (true)
            {
                var wait = outlet.LastSentAt + _intervalMs - Environment.TickCount64;
                if (wait > 0)
                {
                    await Task.Delay(TimeSpan.FromMilliseconds(wait), stoppingToken);
                }

                TwinChange? change;
                lock (outlet)
                {
                    change = outlet.Pending;
                    outlet.Pending = null;
                    if (change is null)
                    {
                        outlet.Pumping = false;
                        return;
                    }
                }

                if (!_watchers.ContainsKey(topic["machine:".Length..]) || (_sent.TryGetValue(topic, out var sent) && change.Version <= sent))
                {
                    continue;
                }

                Sent(topic, change.Version);
                outlet.LastSentAt = Environment.TickCount64;
                try
                {
                    await SendToGroupAsync(topic, change, stoppingToken);
                }
                catch (Exception ex) when (!stoppingToken.IsCancellationRequested)
                {
                    LogSendFailed(ex, topic);
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // The gateway is stopping.
        }
    }

    /// <summary>One machine topic's newest unsent change and when its last change went out.</summary>
    private sealed class Outlet
    {
        public TwinChange? Pending { get; set; }

        public bool Pumping { get; set; }

        public long LastSentAt { get; set; } = long.MinValue / 2;
    }

    /// <summary>
    /// Sends without letting one slow client hold up the others: after a second the feed moves on
    /// (the slow connection's send completes or fails on its own; its buffer is bounded by SignalR).
    /// </summary>
    private async Task SendToGroupAsync(string topic, TwinChange change, CancellationToken stoppingToken)
    {
        try
        {
            await _hub.Clients.Group(Group(topic)).SendAsync("twinChanged", change, stoppingToken).WaitAsync(TimeSpan.FromSeconds(1), stoppingToken);
        }
        catch (TimeoutException)
        {
            LogSlowClient(topic);
        }
    }

    private async Task SendAsync(Func<Task<TwinChange>> build, CancellationToken stoppingToken)
    {
        try
        {
            var change = await build();
            if (_sent.TryGetValue(change.Topic, out var sent) && change.Version <= sent)
            {
                return;
            }

            Sent(change.Topic, change.Version);
            await SendToGroupAsync(change.Topic, change, stoppingToken);
        }
        catch (Exception ex) when (!stoppingToken.IsCancellationRequested)
        {
            LogSendFailed(ex, "line/factory");
        }
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

    [LoggerMessage(EventId = TwinEvents.OutletSendFailed, Level = LogLevel.Warning, Message = "Live update for {Topic} failed")]
    private partial void LogSendFailed(Exception exception, string topic);

    [LoggerMessage(EventId = TwinEvents.OutletSlowClient, Level = LogLevel.Warning, Message = "Live update for {Topic}: a client was too slow; moving on")]
    private partial void LogSlowClient(string topic);
}
