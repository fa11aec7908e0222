using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Streams;
using Twin.Live;

namespace Twin.Grains.Live;

/// <summary>Live updates (<c>Twin:Live</c>), read by the silos: the twins publish their changes.</summary>
public sealed class LiveFeedOptions : ITwinOptions
{
    public const string Section = "Twin:Live";

    static string ITwinOptions.Section => Section;

    /// <summary>Most changes one twin publishes a second (0.1–100); in between, the latest state wins.</summary>
    [SettingRange(0.1, 100)]
    public double MaxUpdatesPerSecond { get; set; } = 10;

    /// <summary>The shortest time between two changes of one twin.</summary>
    public TimeSpan Interval => TimeSpan.FromSeconds(1 / Math.Clamp(MaxUpdatesPerSecond, 0.1, 100));
}

[OptionsValidator]
public sealed partial class LiveFeedOptionsValidator : IValidateOptions<LiveFeedOptions>;

/// <summary>
/// The live feed's one throttle: publishes a twin's durable state to the twin's stream once it is
/// committed, on the leading edge (a change after a quiet spell goes out at once) and at most
/// <see cref="LiveFeedOptions.MaxUpdatesPerSecond"/> times a second, latest state wins. Never
/// awaited by the caller: one publish in flight per twin, changes meanwhile are coalesced, and a
/// failed or slow publish is logged and dropped (subscribers resynchronise by version).
/// </summary>
internal sealed partial class LivePublisher(IGrainBase grain, TwinTopic topic, LiveFeedOptions options, Func<TwinChange> build, ILogger logger)
{
    private static readonly TimeSpan PublishTimeout = TimeSpan.FromSeconds(5);

    private readonly long _intervalMs = Math.Max(1, (long)options.Interval.TotalMilliseconds);
    private IAsyncStream<TwinChange>? _stream;
    private IGrainTimer? _timer;
    private bool _publishing;
    private bool _dirty;
    private long _publishedVersion = -1;
    private long _publishedAt = long.MinValue / 2;

    /// <summary>The twin's state changed and is durable.</summary>
    public void Changed()
    {
        _dirty = true;
        if (_timer is not null || _publishing)
        {
            // Picked up when the interval ends or the publish in flight completes.
            return;
        }

        var wait = _publishedAt + _intervalMs - Environment.TickCount64;
        if (wait <= 0)
        {
            Publish();
            return;
        }

        _timer = grain.RegisterGrainTimer(OnIntervalEndAsync, TimeSpan.FromMilliseconds(wait), Timeout.InfiniteTimeSpan);
    }

    private Task OnIntervalEndAsync(CancellationToken cancellationToken)
    {
        _timer?.Dispose();
        _timer = null;
        Publish();
        return Task.CompletedTask;
    }

    private void Publish()
    {
        _dirty = false;
        var change = build();
        if (change.Version == _publishedVersion)
        {
            return;
        }

        _publishedVersion = change.Version;
        _publishedAt = Environment.TickCount64;
        _publishing = true;
        _ = PublishAsync(change);
    }

    private async Task PublishAsync(TwinChange change)
    {
        try
        {
            _stream ??= grain.GetStreamProvider(TwinTopic.StreamProvider).GetStream<TwinChange>(StreamId.Create(topic.StreamNamespace, topic.Key));
            await _stream.OnNextAsync(change).WaitAsync(PublishTimeout);
        }
        catch (Exception ex)
        {
            LogPublishFailed(ex, topic.ToString(), change.Version);
        }
        finally
        {
            _publishing = false;
            if (_dirty)
            {
                Changed();
            }
        }
    }

    [LoggerMessage(EventId = TwinEvents.LivePublishFailed, Level = LogLevel.Warning, Message = "Live change {Version} of {Topic} was not published (best effort; subscribers resync by version)")]
    private partial void LogPublishFailed(Exception exception, string topic, long version);
}
