using System.Collections.Concurrent;
using Microsoft.AspNetCore.SignalR;
using Twin.Live;
using Twin.Machines;

namespace Twin.Gateway.Live;

/// <summary>
/// SignalR hub <c>/hubs/twins</c>. A client calls <c>Subscribe("machine:{factory}/{machine}")</c>
/// and gets the twin's snapshot with its version, then <c>twinChanged</c> messages with rising
/// versions. A client that sees a gap, or reconnects, subscribes again to resynchronise.
/// </summary>
public sealed class TwinHub(LiveFeed feed, IGrainFactory grains) : Hub
{
    private static readonly ConcurrentDictionary<string, ConcurrentDictionary<string, byte>> Subscriptions = new(StringComparer.Ordinal);

    public async Task<TwinChange> Subscribe(string topic)
    {
        var key = LiveFeed.MachineKey(topic) ?? throw new HubException($"'{topic}' is not a twin topic; use machine:{{factory}}/{{machine}}.");
        var mine = Subscriptions.GetOrAdd(Context.ConnectionId, _ => new ConcurrentDictionary<string, byte>(StringComparer.Ordinal));
        if (mine.TryAdd(key, 0))
        {
            await Groups.AddToGroupAsync(Context.ConnectionId, LiveFeed.Group(topic));
            await feed.WatchAsync(key);
        }

        var snapshot = await grains.GetGrain<IMachineGrain>(key).GetSnapshotAsync();
        return new TwinChange(topic, snapshot.Version, snapshot);
    }

    public async Task Unsubscribe(string topic)
    {
        var key = LiveFeed.MachineKey(topic) ?? throw new HubException($"'{topic}' is not a twin topic.");
        if (Subscriptions.TryGetValue(Context.ConnectionId, out var mine) && mine.TryRemove(key, out _))
        {
            await Groups.RemoveFromGroupAsync(Context.ConnectionId, LiveFeed.Group(topic));
            await feed.UnwatchAsync(key);
        }
    }

    public override async Task OnDisconnectedAsync(Exception? exception)
    {
        if (Subscriptions.TryRemove(Context.ConnectionId, out var mine))
        {
            foreach (var key in mine.Keys)
            {
                await feed.UnwatchAsync(key);
            }
        }

        await base.OnDisconnectedAsync(exception);
    }
}
