using System.Collections.Concurrent;
using System.Globalization;
using System.Security.Claims;
using System.Threading.RateLimiting;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.SignalR;
using Microsoft.Extensions.Options;
using Twin.Gateway.Security;
using Twin.Live;

namespace Twin.Gateway.Live;

/// <summary>
/// SignalR hub <c>/hubs/twins</c>. A client calls <c>Subscribe("machine:{factory}/{machine}")</c>
/// and gets the twin's snapshot with its version, then <c>twinChanged</c> messages with rising
/// versions. A client that sees a gap, or reconnects, subscribes again to resynchronise.
/// Every subscription is authorized for its factory; a connection has a bounded number of them and
/// a subscribe rate, and closes when its token expires.
/// </summary>
public sealed class TwinHub(
    LiveFeed feed,
    IAuthorizationService authorization,
    IOptions<LiveOptions> options,
    IOptions<AuthOptions> auth,
    HubIdentities identities,
    TimeProvider time) : Hub
{
    public override async Task OnConnectedAsync()
    {
        if (auth.Value.IsJwt && Identity() is { } identity && !identities.TryAdd(identity, options.Value.MaxConnectionsPerIdentity))
        {
            Context.Items[typeof(HubIdentities)] = false;
            Context.Abort();
            throw new HubException($"too many connections: at most {options.Value.MaxConnectionsPerIdentity} per identity (Twin:Live:MaxConnectionsPerIdentity).");
        }

        await base.OnConnectedAsync();
    }

    public async Task<TwinChange> Subscribe(string topic)
    {
        // Counted before anything else, so refused attempts use up the rate too.
        var connection = Connection();
        using var lease = connection.Rate.AttemptAcquire();
        if (!lease.IsAcquired)
        {
            throw new HubException($"too many subscribe calls: at most {options.Value.SubscribesPerSecond} a second per connection (Twin:Live:SubscribesPerSecond).");
        }

        var twin = Parse(topic);
        var factory = twin.Factory;
        if (Context.User is not { } user || !(await authorization.AuthorizeAsync(user, new FactoryResource(factory), TwinPolicies.Viewer)).Succeeded)
        {
            // Nothing is joined: a token for another factory receives no messages of this one.
            throw new HubException($"forbidden: the token does not grant factory '{factory}'.");
        }

        if (Expired(user))
        {
            // The connection closes on expiry anyway; no new subscription meanwhile.
            Context.Abort();
            throw new HubException("unauthorized: the token has expired; reconnect with a fresh one.");
        }

        var mine = connection.Topics;
        if (!mine.ContainsKey(twin) && mine.Count >= options.Value.MaxSubscriptionsPerConnection)
        {
            throw new HubException($"too many subscriptions: at most {options.Value.MaxSubscriptionsPerConnection} per connection (Twin:Live:MaxSubscriptionsPerConnection); unsubscribe first.");
        }

        var first = mine.TryAdd(twin, 0);
        if (first)
        {
            await Groups.AddToGroupAsync(Context.ConnectionId, LiveFeed.Group(twin));
        }

        try
        {
            // Joined first, then subscribed and read: the snapshot is at least as new as anything the group missed.
            return first ? await feed.WatchAsync(twin) : await feed.SnapshotAsync(twin);
        }
        catch (Exception ex) when (first || ex is TwinRuleException)
        {
            // Not watched after all (the feed released a first watch that failed): counts stay right.
            mine.TryRemove(twin, out _);
            await Groups.RemoveFromGroupAsync(Context.ConnectionId, LiveFeed.Group(twin));
            if (!first)
            {
                await feed.UnwatchAsync(twin);
            }

            if (ex is TwinRuleException rule)
            {
                throw new HubException(rule.Message);
            }

            throw;
        }
    }

    public async Task Unsubscribe(string? topic)
    {
        var twin = Parse(topic);
        if (Connection().Topics.TryRemove(twin, out _))
        {
            await Groups.RemoveFromGroupAsync(Context.ConnectionId, LiveFeed.Group(twin));
            await feed.UnwatchAsync(twin);
        }
    }

    public override async Task OnDisconnectedAsync(Exception? exception)
    {
        if (auth.Value.IsJwt && Identity() is { } identity && !Context.Items.ContainsKey(typeof(HubIdentities)))
        {
            identities.Remove(identity);
        }

        if (Context.Items.TryGetValue(typeof(ConnectionState), out var state) && state is ConnectionState connection)
        {
            foreach (var topic in connection.Topics.Keys)
            {
                await feed.UnwatchAsync(topic);
            }

            connection.Rate.Dispose();
        }

        await base.OnDisconnectedAsync(exception);
    }

    private ConnectionState Connection()
    {
        if (!Context.Items.TryGetValue(typeof(ConnectionState), out var state) || state is not ConnectionState connection)
        {
            var o = options.Value;
            connection = new ConnectionState(new TokenBucketRateLimiter(new TokenBucketRateLimiterOptions
            {
                TokenLimit = Math.Max(1, o.SubscribeBurst),
                TokensPerPeriod = Math.Max(1, o.SubscribesPerSecond),
                ReplenishmentPeriod = TimeSpan.FromSeconds(1),
                QueueLimit = 0,
                AutoReplenishment = true,
            }));
            Context.Items[typeof(ConnectionState)] = connection;
        }

        return connection;
    }

    /// <summary>The token's subject; a token without one shares a bucket with the others from its client address.</summary>
    private string? Identity() =>
        Context.User?.FindFirst("sub")?.Value is { } subject
            ? "sub:" + subject
            : "address:" + Context.GetHttpContext()?.Connection.RemoteIpAddress;

    private bool Expired(ClaimsPrincipal user) =>
        user.FindFirst("exp")?.Value is { } exp
        && long.TryParse(exp, NumberStyles.Integer, CultureInfo.InvariantCulture, out var seconds)
        && DateTimeOffset.FromUnixTimeSeconds(seconds) <= time.GetUtcNow();

    /// <summary>One connection's subscriptions and its subscribe rate (in the connection's items; gone with it).</summary>
    private sealed record ConnectionState(TokenBucketRateLimiter Rate)
    {
        public ConcurrentDictionary<TwinTopic, byte> Topics { get; } = new();
    }

    /// <summary><c>machine:{f}/{m}</c>, <c>line:{f}/{l}</c> or <c>factory:{f}</c>.</summary>
    private static TwinTopic Parse(string? topic) =>
        TwinTopic.TryParse(topic, out var twin)
            ? twin
            : throw new HubException($"'{topic}' is not a twin topic; use machine:{{factory}}/{{machine}}, line:{{factory}}/{{line}} or factory:{{factory}}.");
}

/// <summary>How many hub connections each identity holds on this gateway.</summary>
public sealed class HubIdentities
{
    private readonly Dictionary<string, int> _connections = new(StringComparer.Ordinal);

    public bool TryAdd(string identity, int max)
    {
        lock (_connections)
        {
            var count = _connections.GetValueOrDefault(identity);
            if (count >= max)
            {
                return false;
            }

            _connections[identity] = count + 1;
            return true;
        }
    }

    public void Remove(string identity)
    {
        lock (_connections)
        {
            if (_connections.TryGetValue(identity, out var count))
            {
                if (count <= 1)
                {
                    _connections.Remove(identity);
                }
                else
                {
                    _connections[identity] = count - 1;
                }
            }
        }
    }
}
