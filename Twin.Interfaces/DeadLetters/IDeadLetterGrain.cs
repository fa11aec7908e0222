using System.Collections.Immutable;

namespace Twin.DeadLetters;

/// <summary>A rejected message or event, kept so an integrator can see what was refused and why.</summary>
/// <param name="At">When it was rejected (processing time).</param>
/// <param name="Source">Where it came from: <c>mqtt</c> or <c>http</c>.</param>
/// <param name="Topic">The MQTT topic or HTTP path.</param>
/// <param name="Reason">The reason, <c>code: detail</c>; the code is the part before the colon.</param>
/// <param name="Payload">The payload as text, truncated.</param>
[GenerateSerializer, Immutable, Alias("twin.DeadLetter")]
public sealed record DeadLetter(
    [property: Id(0)] DateTimeOffset At,
    [property: Id(1)] string Source,
    [property: Id(2)] string? Topic,
    [property: Id(3)] string Reason,
    [property: Id(4)] string Payload)
{
    /// <summary>Longest payload text kept.</summary>
    public const int MaxPayloadChars = 1024;

    /// <summary>Longest topic (or path) kept.</summary>
    public const int MaxTopicChars = 512;

    /// <summary>Longest reason kept.</summary>
    public const int MaxReasonChars = 1024;

    /// <summary>The reason's code: the text before the first colon.</summary>
    public string ReasonCode => ReasonCodeOf(Reason);

    /// <summary>This letter with its topic, reason and payload cut to the kept sizes (a cut ends in "…").</summary>
    public DeadLetter Bounded() =>
        Topic?.Length > MaxTopicChars || Reason.Length > MaxReasonChars || Payload.Length > MaxPayloadChars
            ? this with { Topic = Cut(Topic, MaxTopicChars), Reason = Cut(Reason, MaxReasonChars)!, Payload = Cut(Payload, MaxPayloadChars)! }
            : this;

    private static string? Cut(string? text, int max) => text is null || text.Length <= max ? text : string.Concat(text.AsSpan(0, max - 1), "…");

    /// <summary>The code part of a reason ("payload.malformed: …" → "payload.malformed").</summary>
    public static string ReasonCodeOf(string reason) => reason.IndexOf(':', StringComparison.Ordinal) is var i and > 0 ? reason[..i] : reason;
}

/// <summary>A page of dead letters, newest first, with counts by reason code since the factory began.</summary>
[GenerateSerializer, Immutable, Alias("twin.DeadLetterPage")]
public sealed record DeadLetterPage(
    [property: Id(0)] long Total,
    [property: Id(1)] ImmutableDictionary<string, long> CountsByReason,
    [property: Id(2)] ImmutableArray<DeadLetter> Items);

/// <summary>The dead letters of one factory, keyed by the factory id. Bounded: the oldest are dropped, the counts are kept.</summary>
[Alias("twin.IDeadLetterGrain")]
public interface IDeadLetterGrain : IGrainWithStringKey
{
    /// <summary>Stores rejected messages; completes once they are durable.</summary>
    [Alias("Record")]
    Task RecordAsync(ImmutableArray<DeadLetter> letters);

    /// <summary>The newest dead letters, optionally only those with one reason code.</summary>
    [Alias("List")]
    Task<DeadLetterPage> ListAsync(string? reasonCode, int limit);
}
