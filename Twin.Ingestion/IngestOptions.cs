using System.ComponentModel.DataAnnotations;

namespace Twin.Ingestion;

/// <summary>
/// The ingest pipeline's settings (<c>Twin:Ingest</c>), the same for every source. Earlier versions
/// read the payload limits from <c>Twin:Mqtt</c>; those keys still apply when these are not set.
/// </summary>
public sealed class IngestOptions
{
    public const string Section = "Twin:Ingest";

    /// <summary>Largest payload accepted, in bytes; larger ones are dead-lettered (MQTT) or refused with 400 (HTTP).</summary>
    [Range(256, 16 * 1024 * 1024)]
    public int MaxPayloadBytes { get; set; } = 64 * 1024;

    /// <summary>Most sensor values in one telemetry message.</summary>
    [Range(1, 100_000)]
    public int MaxValuesPerMessage { get; set; } = 256;

    /// <summary>Readings may be at most this far ahead of the gateway's clock.</summary>
    [Range(typeof(TimeSpan), "00:00:00", "7.00:00:00")]
    public TimeSpan MaxClockSkew { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>Concurrent twin calls one source keeps going (one per machine at a time).</summary>
    [Range(1, 100_000)]
    public int MaxConcurrentCalls { get; set; } = 256;

    /// <summary>First wait before a failed twin call is tried again; it doubles up to <see cref="MaxRetryDelay"/>.</summary>
    [Range(typeof(TimeSpan), "00:00:00.001", "00:01:00")]
    public TimeSpan RetryDelay { get; set; } = TimeSpan.FromMilliseconds(100);

    /// <summary>
    /// Longest wait between tries of a failed twin call. Kept low: while one gateway waits, others
    /// sharing the subscription move on with the same machines' later readings.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00.001", "00:10:00")]
    public TimeSpan MaxRetryDelay { get; set; } = TimeSpan.FromSeconds(1);

    public PayloadLimits Limits => new() { MaxPayloadBytes = MaxPayloadBytes, MaxValuesPerMessage = MaxValuesPerMessage, MaxClockSkew = MaxClockSkew };
}

[OptionsValidator]
internal sealed partial class IngestOptionsValidator : IValidateOptions<IngestOptions>;
