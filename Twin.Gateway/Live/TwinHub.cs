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
public sealed class TwinHub(LiveFeed feed, IGrainFactory grains, Microsoft.Extensions.Options.IOptions<Twin.Gateway.Security.AuthOptions> auth) : Hub
{
    private static readonly ConcurrentDictionary<string, ConcurrentDictionary<string, byte>> Subscriptions = new(StringComparer.Ordinal);

    public async Task<TwinChange> Subscribe(string topic)
    {
        var (kind, key) = Parse(topic);
        var factory = key.Split('/')[0];
        if (auth.Value.IsJwt && (Context.User is null || !Twin.Gateway.Security.TwinAccess.MayAccess(Context.User, factory)))
        {
            // Nothing is joined: a token for another factory receives no messages of this one.
            throw new HubException($"forbidden: the token does not grant factory '{factory}'.");
        }

        var mine = Subscriptions.GetOrAdd(Context.ConnectionId, _ => new ConcurrentDictionary<string, byte>(StringComparer.Ordinal));
        var first = mine.TryAdd(topic, 0);
        if (first)
        {
            await Groups.AddToGroupAsync(Context.ConnectionId, LiveFeed.Group(topic));
        }

        try
        {
            switch (kind)
            {
                case "machine":
                    if (first)
                    {
                        await feed.WatchAsync(key);
                    }

                    var machine = await grains.GetGrain<IMachineGrain>(key).GetSnapshotAsync();
                    return new TwinChange(topic, machine.Version, machine);
                case "line":
                    var line = first ? await feed.WatchLineAsync(key) : await grains.GetGrain<Twin.Lines.ILineGrain>(key).GetSnapshotAsync();
                    return new TwinChange(topic, LiveFeed.VersionOf(line), null, line);
                default:
                    var view = first ? await feed.WatchFactoryAsync(key) : await feed.FactoryViewAsync(key);
                    return new TwinChange(topic, view.Lines.Sum(LiveFeed.VersionOf), null, null, view);
            }
        }
        catch (TwinRuleException rule)
        {
            mine.TryRemove(topic, out _);
            await Groups.RemoveFromGroupAsync(Context.ConnectionId, LiveFeed.Group(topic));
            throw new HubException(rule.Message);
        }
    }

    public async Task Unsubscribe(string topic)
    {
        Parse(topic);
        if (Subscriptions.TryGetValue(Context.ConnectionId, out var mine) && mine.TryRemove(topic, out _))
        {
            await Groups.RemoveFromGroupAsync(Context.ConnectionId, LiveFeed.Group(topic));
            await UnwatchAsync(topic);
        }
    }

    public override async Task OnDisconnectedAsync(Exception? exception)
    {
        if (Subscriptions.TryRemove(Context.ConnectionId, out var mine))
        {
            foreach (var topic in mine.Keys)
            {
                await UnwatchAsync(topic);
            }
        }

        await base.OnDisconnectedAsync(exception);
    }

    private Task UnwatchAsync(string topic)
    {
        var (kind, key) = Parse(topic);
        return kind switch
        {
            "machine" => feed.UnwatchAsync(key),
            "line" => feed.UnwatchLineAsync(key),
            _ => feed.UnwatchFactoryAsync(key),
        };
    }

    /// <summary><c>machine:{f}/{m}</c>, <c>line:{f}/{l}</c> or <c>factory:{f}</c>.</summary>
    private static (string Kind, string Key) Parse(string topic)
    {
        var colon = topic.IndexOf(':', StringComparison.Ordinal);
        var kind = colon > 0 ? topic[..colon] : "";
        var key = colon > 0 ? topic[(colon + 1)..] : "";
        var parts = key.Split('/');
        var valid = kind switch
        {
            "machine" or "line" => parts.Length == 2 && TwinKey.IsValidId(parts[0], out _) && TwinKey.IsValidId(parts[1], out _),
            "factory" => parts.Length == 1 && TwinKey.IsValidId(parts[0], out _),
            _ => false,
        };
        return valid ? (kind, key) : throw new HubException($"'{topic}' is not a twin topic; use machine:{{factory}}/{{machine}}, line:{{factory}}/{{line}} or factory:{{factory}}.");
    }
}
