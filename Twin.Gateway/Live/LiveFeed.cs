using System.Collections.Immutable;
using Microsoft.Extensions.Options;
using Microsoft.AspNetCore.SignalR;
using Orleans.Streams;
using Twin.Factories;
using Twin.Lines;
using Twin.Live;
using Twin.Machines;
using Twin.Scheduling;

namespace Twin.Gateway.Live;

/// <summary>Hub limits of this gateway (<c>Twin:Live</c>); how often twins publish is the silos' <c>Twin:Live:MaxUpdatesPerSecond</c>.</summary>
public sealed class LiveOptions : ITwinOptions
{
    public const string Section = "Twin:Live";

    static string ITwinOptions.Section => Section;

    /// <summary>Most twins one hub connection may watch at once.</summary>
    [SettingRange(1, int.MaxValue)]
    public int MaxSubscriptionsPerConnection { get; set; } = 2000;

    /// <summary>Subscribe calls per second one connection may make, after a first burst of <see cref="SubscribeBurst"/>.</summary>
    [SettingRange(1, int.MaxValue)]
    public int SubscribesPerSecond { get; set; } = 100;

    /// <summary>Subscribe calls one connection may make at once (a dashboard opening a whole factory).</summary>
    [SettingRange(1, int.MaxValue)]
    public int SubscribeBurst { get; set; } = 2000;

    /// <summary>Hub connections one identity (the token's <c>sub</c>) may hold at once on this gateway; with authentication only.</summary>
    [SettingRange(1, int.MaxValue)]
    public int MaxConnectionsPerIdentity { get; set; } = 20;
}

[OptionsValidator]
public sealed partial class LiveOptionsValidator : IValidateOptions<LiveOptions>;

/// <summary>
/// An in-process consumer of live changes beside the hub (the UNS publisher): it watches twins
/// through the feed's own subscriptions and gets their changes as the hub groups do.
/// </summary>
public interface ILiveListener
{
    /// <summary>
    /// A newer state of <paramref name="topic"/> (a machine's snapshot, a line's or factory's view),
    /// in version order and off the stream's delivery. Keep it short and never block: the next
    /// change of the twin waits for it.
    /// </summary>
    void OnChange(TwinTopic topic, TwinChange change);
}

/// <summary>
/// This gateway's one subscription per watched twin: a subscription to the twin's Orleans stream,
/// ref-counted by the hub clients watching the twin, by the in-process listeners
/// (<see cref="ILiveListener"/>) and by the line and factory views that include it, and
/// unsubscribed when the last of them leaves. Twins publish already throttled
/// (the silos' <c>Twin:Live:MaxUpdatesPerSecond</c>); here a topic's changes go to its SignalR
/// group in version order, one send at a time, the newest waiting while one is in flight.
/// A line view is its twin plus its machines, a factory view its lines: each is re-read when its
/// twin publishes a membership change or a member changes, one read at a time (latest wins),
/// and its members are watched or released as they join or leave. No backplane: every gateway
/// subscribes for its own clients, the cluster is the backplane.
/// </summary>
public sealed partial class LiveFeed(IClusterClient cluster, IHubContext<TwinHub> hub, ILogger<LiveFeed> logger) : IHostedService, IDisposable
{
    /// <summary>How often the gateway renews its machines' live leases and checks that its subscriptions still exist (a silo lost with the pub-sub record).</summary>
    private static readonly TimeSpan CheckEvery = TimeSpan.FromSeconds(20);

    private readonly Lock _gate = new();
    private readonly Dictionary<TwinTopic, Watch> _watches = [];
    private readonly CancellationTokenSource _stopping = new();
    private IStreamProvider? _streams;
    private Task? _loop;

    public static string Group(TwinTopic topic) => "twin:" + topic;

    /// <summary>A line's version for clients: its own plus its machines', so it rises with any of them.</summary>
    public static long VersionOf(LineSnapshot line) => line.Version + line.Machines.Sum(m => m.Version);

    /// <summary>A hub client starts watching <paramref name="topic"/>: subscribes if this gateway did not yet; returns the twin's current state.</summary>
    public Task<TwinChange> WatchAsync(TwinTopic topic) => WatchAsync(topic, listener: null);

    /// <summary>
    /// <paramref name="listener"/> starts watching <paramref name="topic"/> through the same subscription
    /// as the hub's clients; returns the twin's current state, after which its changes arrive at
    /// <see cref="ILiveListener.OnChange"/> (some may be older than the state returned: compare versions).
    /// </summary>
    public async Task<TwinChange> WatchAsync(TwinTopic topic, ILiveListener? listener)
    {
        var watch = Acquire(topic, parent: null, listener);
        try
        {
            await watch.Ready;
            return await SnapshotAsync(topic);
        }
        catch
        {
            await ReleaseAsync(topic, parent: null, listener);
            throw;
        }
    }

    /// <summary>A hub client stopped watching <paramref name="topic"/>.</summary>
    public Task UnwatchAsync(TwinTopic topic) => ReleaseAsync(topic, parent: null);

    /// <summary><paramref name="listener"/> stopped watching <paramref name="topic"/>.</summary>
    public Task UnwatchAsync(TwinTopic topic, ILiveListener listener) => ReleaseAsync(topic, parent: null, listener);

    /// <summary>The twin's current state as a change carrying its version.</summary>
    public async Task<TwinChange> SnapshotAsync(TwinTopic topic)
    {
        switch (topic.Kind)
        {
            case TwinTopicKind.Machine:
                var machine = await cluster.GetGrain<IMachineGrain>(topic.Key).GetSnapshotAsync();
                return new TwinChange(topic.ToString(), machine.Version, machine);
            case TwinTopicKind.Line:
                var line = await cluster.GetGrain<ILineGrain>(topic.Key).GetSnapshotAsync();
                return new TwinChange(topic.ToString(), VersionOf(line), null, line);
            case TwinTopicKind.Schedule:
                var plan = await cluster.GetGrain<IPlanningGrain>(topic.Factory).GetPlanAsync();
                return new TwinChange(topic.ToString(), plan.Version, null, Schedule: plan);
            default:
                var lines = await cluster.GetGrain<IFactoryGrain>(topic.Factory).ListAsync(TwinKind.Line);
                return await FactoryChangeAsync(topic, lines);
        }
    }

    public Task StartAsync(CancellationToken cancellationToken)
    {
        _loop = Task.Run(() => CheckSubscriptionsAsync(_stopping.Token), CancellationToken.None);
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

    /// <summary>How many twins this gateway is subscribed to (for tests and diagnostics).</summary>
    internal int Subscriptions
    {
        get
        {
            lock (_gate)
            {
                return _watches.Count;
            }
        }
    }

    /// <summary>Counts a watcher of <paramref name="topic"/> (a client, a listener, or the view <paramref name="parent"/>); the first one subscribes.</summary>
    private Watch Acquire(TwinTopic topic, TwinTopic? parent, ILiveListener? listener = null)
    {
        lock (_gate)
        {
            if (!_watches.TryGetValue(topic, out var watch))
            {
                watch = new Watch(topic);
                _watches[topic] = watch;
                watch.Ready = StartWatchAsync(watch);
            }

            if (parent is { } p)
            {
                watch.Parents.Add(p);
            }
            else if (listener is not null)
            {
                watch.Listeners = watch.Listeners.Add(listener);
            }
            else
            {
                watch.Clients++;
            }

            return watch;
        }
    }

    /// <summary>Uncounts a watcher; the last one unsubscribes and releases the view's members.</summary>
    private async Task ReleaseAsync(TwinTopic topic, TwinTopic? parent, ILiveListener? listener = null)
    {
        Watch? closed = null;
        lock (_gate)
        {
            if (!_watches.TryGetValue(topic, out var watch))
            {
                return;
            }

            if (parent is { } p)
            {
                watch.Parents.Remove(p);
            }
            else if (listener is not null)
            {
                watch.Listeners = watch.Listeners.Remove(listener);
            }
            else
            {
                watch.Clients = Math.Max(0, watch.Clients - 1);
            }

            if (watch.Clients == 0 && watch.Listeners.IsEmpty && watch.Parents.Count == 0)
            {
                _watches.Remove(topic);
                watch.Closed = true;
                closed = watch;
            }
        }

        if (closed is not null)
        {
            await StopWatchAsync(closed);
        }
    }

    private async Task StartWatchAsync(Watch watch)
    {
        // Subscribed first, then read: a change between the two is not missed.
        watch.Handle = await Stream(watch.Topic).SubscribeAsync(new Observer(this, watch));
        if (watch.Topic.Kind == TwinTopicKind.Machine)
        {
            await cluster.GetGrain<IMachineGrain>(watch.Topic.Key).KeepLiveAsync();
        }
        else if (watch.Topic.Kind != TwinTopicKind.Schedule)
        {
            await RefreshAsync(watch);
        }
    }

    private async Task StopWatchAsync(Watch watch)
    {
        try
        {
            await watch.Ready;
        }
        catch (Exception)
        {
            // It never subscribed; whoever awaited it was told.
        }

        Task refreshing;
        lock (watch)
        {
            refreshing = watch.Refreshing;
        }

        await refreshing;
        try
        {
            if (watch.Handle is { } handle)
            {
                await handle.UnsubscribeAsync();
            }
        }
        catch (Exception ex) when (!_stopping.IsCancellationRequested)
        {
            LogSubscribeFailed(ex, watch.Topic);
        }

        TwinTopic[] members;
        lock (watch)
        {
            members = [.. watch.Members];
            watch.Members.Clear();
        }

        await Task.WhenAll(members.Select(m => ReleaseAsync(m, watch.Topic)));
    }

    private IAsyncStream<TwinChange> Stream(TwinTopic topic) =>
        (_streams ??= cluster.GetStreamProvider(TwinTopic.StreamProvider)).GetStream<TwinChange>(StreamId.Create(topic.StreamNamespace, topic.Key));

    /// <summary>A change from a twin's stream (the pulling agent awaits this: keep it short).</summary>
    private void OnChange(Watch watch, TwinChange change)
    {
        if (watch.Closed)
        {
            return;
        }

        if (watch.Topic.Kind is TwinTopicKind.Line or TwinTopicKind.Factory)
        {
            // The line or factory itself changed (a member joined or left): re-read the view.
            MarkDirty(watch);
            return;
        }

        if (watch.Watched)
        {
            Offer(watch, change);
        }

        TwinTopic[] views;
        lock (_gate)
        {
            views = [.. watch.Parents];
        }

        foreach (var view in views)
        {
            if (Find(view) is { } parent)
            {
                MarkDirty(parent);
            }
        }
    }

    private Watch? Find(TwinTopic topic)
    {
        lock (_gate)
        {
            return _watches.GetValueOrDefault(topic);
        }
    }

    /// <summary>Queues a change for the topic's group and listeners: the newest wins while a send is in flight; sends never go back in version.</summary>
    private void Offer(Watch watch, TwinChange change)
    {
        lock (watch)
        {
            if (watch.Pending is null || change.Version > watch.Pending.Version)
            {
                watch.Pending = change;
            }

            if (watch.Sending)
            {
                return;
            }

            watch.Sending = true;
        }

        // Off the stream's delivery: a gateway's deliveries arrive one at a time, and the send
        // (JSON, every connection of the group) would hold up every other twin's change behind it.
        ThreadPool.UnsafeQueueUserWorkItem(static state => _ = state.Feed.SendPendingAsync(state.Watch), (Feed: this, Watch: watch), preferLocal: false);
    }

    private async Task SendPendingAsync(Watch watch)
    {
        var stoppingToken = _stopping.Token;
        while (true)
        {
            TwinChange? change;
            lock (watch)
            {
                change = watch.Pending;
                watch.Pending = null;
                if (change is null || watch.Closed)
                {
                    watch.Sending = false;
                    return;
                }

                if (change.Version <= watch.SentVersion)
                {
                    continue;
                }

                watch.SentVersion = change.Version;
            }

            foreach (var listener in watch.Listeners)
            {
                try
                {
                    listener.OnChange(watch.Topic, change);
                }
                catch (Exception ex)
                {
                    LogSendFailed(ex, watch.Topic);
                }
            }

            if (watch.Clients == 0)
            {
                continue;
            }

            try
            {
                await SendToGroupAsync(watch.Topic, change, stoppingToken);
            }
            catch (Exception ex) when (!stoppingToken.IsCancellationRequested)
            {
                LogSendFailed(ex, watch.Topic);
            }
        }
    }

    /// <summary>A view needs reading again; one read runs at a time, and one more after it if anything changed meanwhile.</summary>
    private void MarkDirty(Watch view)
    {
        lock (view)
        {
            view.Dirty = true;
            if (!view.Refreshing.IsCompleted || view.Closed)
            {
                return;
            }

            view.Refreshing = RefreshLoopAsync(view);
        }
    }

    private async Task RefreshLoopAsync(Watch view)
    {
        await Task.Yield();
        while (true)
        {
            lock (view)
            {
                if (!view.Dirty || view.Closed)
                {
                    return;
                }

                view.Dirty = false;
            }

            try
            {
                var change = await RefreshAsync(view);
                if (view.Watched)
                {
                    Offer(view, change);
                }

                TwinTopic[] factories;
                lock (_gate)
                {
                    factories = [.. view.Parents];
                }

                foreach (var factory in factories)
                {
                    if (Find(factory) is { } parent)
                    {
                        MarkDirty(parent);
                    }
                }
            }
            catch (Exception ex) when (!_stopping.IsCancellationRequested)
            {
                LogSendFailed(ex, view.Topic);
            }
        }
    }

    /// <summary>Reads a line or factory view and makes its members the ones watched on its behalf.</summary>
    private async Task<TwinChange> RefreshAsync(Watch view)
    {
        TwinChange change;
        IEnumerable<TwinTopic> members;
        if (view.Topic.Kind == TwinTopicKind.Line)
        {
            var line = await cluster.GetGrain<ILineGrain>(view.Topic.Key).GetSnapshotAsync();
            members = line.Machines.Select(m => TwinTopic.Machine(line.Factory, m.Id));
            change = new TwinChange(view.Topic.ToString(), VersionOf(line), null, line);
        }
        else
        {
            var lines = await cluster.GetGrain<IFactoryGrain>(view.Topic.Factory).ListAsync(TwinKind.Line);
            members = lines.Select(l => TwinTopic.Line(view.Topic.Factory, l));
            change = await FactoryChangeAsync(view.Topic, lines);
        }

        var wanted = members.ToHashSet();
        List<TwinTopic> joined, left;
        lock (view)
        {
            if (view.Closed)
            {
                return change;
            }

            joined = [.. wanted.Where(m => !view.Members.Contains(m))];
            left = [.. view.Members.Where(m => !wanted.Contains(m))];
            view.Members.UnionWith(joined);
            view.Members.ExceptWith(left);
        }

        await Task.WhenAll(left.Select(m => ReleaseAsync(m, view.Topic)));
        await Task.WhenAll(joined.Select(m => Acquire(m, view.Topic).Ready));
        return change;
    }

    private async Task<TwinChange> FactoryChangeAsync(TwinTopic topic, ImmutableArray<string> lineIds)
    {
        var lines = await Task.WhenAll(lineIds.Select(l => cluster.GetGrain<ILineGrain>(TwinKey.Compose(topic.Factory, l)).GetSnapshotAsync()));
        var byStatus = lines.SelectMany(l => l.Machines).GroupBy(m => m.Status).ToImmutableDictionary(g => g.Key, g => g.Count());
        var view = new FactoryView(topic.Factory, [.. lines], byStatus);
        return new TwinChange(topic.ToString(), view.Lines.Sum(VersionOf), null, null, view);
    }

    /// <summary>
    /// Sends without letting one slow client hold up the others: after a second the feed moves on
    /// (the slow connection's send completes or fails on its own; its buffer is bounded by SignalR).
    /// </summary>
    private async Task SendToGroupAsync(TwinTopic topic, TwinChange change, CancellationToken stoppingToken)
    {
        try
        {
            await hub.Clients.Group(Group(topic)).SendAsync("twinChanged", change, stoppingToken).WaitAsync(TimeSpan.FromSeconds(1), stoppingToken);
        }
        catch (TimeoutException)
        {
            LogSlowClient(topic);
        }
    }

    /// <summary>
    /// Pub-sub records live in silo memory (the feed is best effort): one lost with its silo is
    /// made again here, so a watched twin's changes resume within <see cref="CheckEvery"/>.
    /// </summary>
    private async Task CheckSubscriptionsAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(CheckEvery);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                Watch[] watches;
                lock (_gate)
                {
                    watches = [.. _watches.Values];
                }

                await Parallel.ForEachAsync(watches, new ParallelOptions { MaxDegreeOfParallelism = 16, CancellationToken = stoppingToken }, async (watch, _) =>
                {
                    if (watch.Closed || !watch.Ready.IsCompletedSuccessfully || watch.Handle is not { } handle)
                    {
                        return;
                    }

                    try
                    {
                        if (watch.Topic.Kind == TwinTopicKind.Machine)
                        {
                            // The twin's lease (TwinTopic.LiveLease) is six of these checks long.
                            await cluster.GetGrain<IMachineGrain>(watch.Topic.Key).KeepLiveAsync();
                        }

                        var stream = Stream(watch.Topic);
                        var handles = await stream.GetAllSubscriptionHandles();
                        if (!handles.Any(h => h.HandleId == handle.HandleId) && !watch.Closed)
                        {
                            watch.Handle = await stream.SubscribeAsync(new Observer(this, watch));
                            LogResubscribed(watch.Topic);
                        }
                    }
                    catch (Exception ex) when (!stoppingToken.IsCancellationRequested)
                    {
                        LogSubscribeFailed(ex, watch.Topic);
                    }
                });
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // The gateway is stopping.
        }
    }

    /// <summary>One watched twin: who watches it, its subscription, and what its group was sent.</summary>
    private sealed class Watch(TwinTopic topic)
    {
        public TwinTopic Topic { get; } = topic;

        /// <summary>Hub subscriptions to the topic itself (under the feed's lock).</summary>
        public int Clients { get; set; }

        /// <summary>In-process listeners of the topic (replaced under the feed's lock; read without it).</summary>
        public ImmutableArray<ILiveListener> Listeners { get; set; } = [];

        /// <summary>Whether anyone wants the topic's own changes (a view's members are watched for the view only).</summary>
        public bool Watched => Clients > 0 || !Listeners.IsEmpty;

        /// <summary>The line and factory views that include this twin (under the feed's lock).</summary>
        public HashSet<TwinTopic> Parents { get; } = [];

        /// <summary>A view's members watched on its behalf (under this watch's lock).</summary>
        public HashSet<TwinTopic> Members { get; } = [];

        public Task Ready { get; set; } = Task.CompletedTask;

        public StreamSubscriptionHandle<TwinChange>? Handle { get; set; }

        public volatile bool Closed;

        public TwinChange? Pending { get; set; }

        public bool Sending { get; set; }

        public long SentVersion { get; set; } = long.MinValue;

        public bool Dirty { get; set; }

        public Task Refreshing { get; set; } = Task.CompletedTask;
    }

    private sealed class Observer(LiveFeed feed, Watch watch) : IAsyncObserver<TwinChange>
    {
        public Task OnNextAsync(TwinChange item, StreamSequenceToken? token = null)
        {
            feed.OnChange(watch, item);
            return Task.CompletedTask;
        }

        public Task OnCompletedAsync() => Task.CompletedTask;

        public Task OnErrorAsync(Exception ex)
        {
            feed.LogSubscribeFailed(ex, watch.Topic);
            return Task.CompletedTask;
        }
    }

    [LoggerMessage(EventId = TwinEvents.OutletSendFailed, Level = LogLevel.Warning, Message = "Live update for {Topic} failed")]
    private partial void LogSendFailed(Exception exception, TwinTopic topic);

    [LoggerMessage(EventId = TwinEvents.OutletSlowClient, Level = LogLevel.Warning, Message = "Live update for {Topic}: a client was too slow; moving on")]
    private partial void LogSlowClient(TwinTopic topic);

    [LoggerMessage(EventId = TwinEvents.LiveSubscribeFailed, Level = LogLevel.Warning, Message = "Live subscription to {Topic} failed")]
    private partial void LogSubscribeFailed(Exception exception, TwinTopic topic);

    [LoggerMessage(EventId = TwinEvents.LiveResubscribed, Level = LogLevel.Information, Message = "Live subscription to {Topic} was lost in the cluster; subscribed again")]
    private partial void LogResubscribed(TwinTopic topic);
}
