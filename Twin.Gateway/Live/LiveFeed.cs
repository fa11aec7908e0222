using System.Collections.Concurrent;
using Microsoft.AspNetCore.SignalR;
using Microsoft.Extensions.Options;
using Twin.Live;
using Twin.Machines;

namespace Twin.Gateway.Live;

/// <summary>Live updates to browsers (<c>Twin:Live</c>).</summary>
public sealed class LiveOptions
{
    public const string Section = "Twin:Live";

    /// <summary>Most updates per second one twin sends to clients; in between, the latest state wins.</summary>
    public double MaxUpdatesPerSecond { get; set; } = 10;
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
    private readonly ConcurrentDictionary<string, int> _watchers = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, TwinChange> _latest = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, long> _sent = new(StringComparer.Ordinal);
    private readonly CancellationTokenSource _stopping = new();
    private ITwinObserver? _reference;
    private Task? _loop;

    public LiveFeed(IGrainFactory grains, IHubContext<TwinHub> hub, IOptions<LiveOptions> options, ILogger<LiveFeed> logger)
    {
        _grains = grains;
        _hub = hub;
        _logger = logger;
        _interval = TimeSpan.FromSeconds(1 / Math.Max(0.1, options.Value.MaxUpdatesPerSecond));
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
        // Keep only the newest per twin; the loop sends at most one per interval.
        _latest.AddOrUpdate(change.Topic, change, (_, old) => change.Version > old.Version ? change : old);
        return Task.CompletedTask;
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
            _sent.TryRemove(machineKey, out _);
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
            foreach (var topic in _latest.Keys)
            {
                if (!_latest.TryRemove(topic, out var change))
                {
                    continue;
                }

                var key = topic["machine:".Length..];
                if (!_watchers.ContainsKey(key) || (_sent.TryGetValue(topic, out var sent) && change.Version <= sent))
                {
                    continue;
                }

                Sent(topic, change.Version);
                try
                {
                    await _hub.Clients.Group(Group(topic)).SendAsync("twinChanged", change, stoppingToken);
                }
                catch (Exception ex) when (!stoppingToken.IsCancellationRequested)
                {
                    LogSendFailed(topic, ex.Message);
                }
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
                        LogSendFailed(key, ex.Message);
                    }
                }
            }
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

    [LoggerMessage(EventId = 7001, Level = LogLevel.Warning, Message = "Live update for {Topic} failed: {Error}")]
    private partial void LogSendFailed(string topic, string error);
}
