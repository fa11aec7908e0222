using System.Diagnostics.CodeAnalysis;

namespace Twin.Live;

/// <summary>What a live topic names.</summary>
public enum TwinTopicKind
{
    Machine,
    Line,
    Factory,

    /// <summary>The factory's schedule (its planner): dispatch lists, promises, the last re-plan.</summary>
    Schedule,
}

/// <summary>
/// A live topic: <c>machine:{factory}/{machine}</c>, <c>line:{factory}/{line}</c>,
/// <c>factory:{factory}</c> or <c>schedule:{factory}</c>, and the Orleans stream its twin publishes durable changes to. The one
/// place topic strings and stream ids are built and parsed.
/// </summary>
/// <remarks>
/// An SDK client watches a twin by subscribing to
/// <c>client.GetStreamProvider(TwinTopic.StreamProvider).GetStream&lt;TwinChange&gt;(StreamId.Create(topic.StreamNamespace, topic.Key))</c>
/// (Microsoft.Orleans.Streaming; configure the client with <c>AddMemoryStreams(TwinTopic.StreamProvider)</c>),
/// and for a machine call <c>IMachineGrain.KeepLiveAsync()</c> after subscribing and at least every minute.
/// </remarks>
public readonly record struct TwinTopic
{
    /// <summary>The stream provider every twin publishes to.</summary>
    public const string StreamProvider = "twin-live";

    /// <summary>How long a machine twin keeps publishing after <c>KeepLiveAsync</c>; subscribers renew well within it.</summary>
    public static readonly TimeSpan LiveLease = TimeSpan.FromMinutes(2);

    private TwinTopic(TwinTopicKind kind, string factory, string id)
    {
        Kind = kind;
        Factory = factory;
        Id = id;
    }

    public TwinTopicKind Kind { get; }

    public string Factory { get; }

    /// <summary>The machine or line id; empty for a factory.</summary>
    public string Id { get; }

    /// <summary>The twin's grain key: <c>{factory}/{id}</c>, or the factory id.</summary>
    public string Key => Kind is TwinTopicKind.Factory or TwinTopicKind.Schedule ? Factory : TwinKey.Compose(Factory, Id);

    /// <summary>The namespace of the stream the twin publishes to (<c>twin.{kind}</c>); the stream's key is <see cref="Key"/>.</summary>
    public string StreamNamespace => Namespace(Kind);

    public static TwinTopic Machine(string factory, string machine) => new(TwinTopicKind.Machine, factory, machine);

    public static TwinTopic Line(string factory, string line) => new(TwinTopicKind.Line, factory, line);

    public static TwinTopic OfFactory(string factory) => new(TwinTopicKind.Factory, factory, "");

    /// <summary>The factory's schedule, published by its planner on every re-plan.</summary>
    public static TwinTopic Schedule(string factory) => new(TwinTopicKind.Schedule, factory, "");

    /// <summary>The topic of a machine or line twin from its grain key <c>{factory}/{id}</c>.</summary>
    public static TwinTopic FromKey(TwinTopicKind kind, string key)
    {
        if (kind == TwinTopicKind.Factory)
        {
            return OfFactory(key);
        }

        if (kind == TwinTopicKind.Schedule)
        {
            return Schedule(key);
        }

        var (factory, id) = TwinKey.Split(key);
        return new TwinTopic(kind, factory, id);
    }

    public override string ToString() => Prefix(Kind) + Key;

    /// <summary>Parses a topic; false for anything else (unknown kind, bad ids, extra parts).</summary>
    public static bool TryParse([NotNullWhen(true)] string? text, out TwinTopic topic)
    {
        topic = default;
        if (text is null)
        {
            return false;
        }

        var colon = text.IndexOf(':', StringComparison.Ordinal);
        if (colon <= 0)
        {
            return false;
        }

        var key = text[(colon + 1)..];
        var slash = key.IndexOf('/', StringComparison.Ordinal);
        switch (text[..colon])
        {
            case "machine" or "line" when slash > 0 && TwinKey.IsValidId(key[..slash], out _) && TwinKey.IsValidId(key[(slash + 1)..], out _):
                topic = new TwinTopic(text[0] == 'm' ? TwinTopicKind.Machine : TwinTopicKind.Line, key[..slash], key[(slash + 1)..]);
                return true;
            case "factory" when slash < 0 && TwinKey.IsValidId(key, out _):
                topic = OfFactory(key);
                return true;
            case "schedule" when slash < 0 && TwinKey.IsValidId(key, out _):
                topic = Schedule(key);
                return true;
            default:
                return false;
        }
    }

    /// <summary>The topic whose stream has this namespace and key; false for a stream of something else.</summary>
    public static bool TryFromStream(string? streamNamespace, string? key, out TwinTopic topic)
    {
        topic = default;
        var kind = streamNamespace switch
        {
            "twin.machine" => TwinTopicKind.Machine,
            "twin.line" => TwinTopicKind.Line,
            "twin.factory" => TwinTopicKind.Factory,
            "twin.schedule" => TwinTopicKind.Schedule,
            _ => (TwinTopicKind?)null,
        };
        return kind is { } k && key is not null && TryParse(Prefix(k) + key, out topic);
    }

    private static string Prefix(TwinTopicKind kind) => kind switch
    {
        TwinTopicKind.Machine => "machine:",
        TwinTopicKind.Line => "line:",
        TwinTopicKind.Schedule => "schedule:",
        _ => "factory:",
    };

    private static string Namespace(TwinTopicKind kind) => kind switch
    {
        TwinTopicKind.Machine => "twin.machine",
        TwinTopicKind.Line => "twin.line",
        TwinTopicKind.Schedule => "twin.schedule",
        _ => "twin.factory",
    };
}
