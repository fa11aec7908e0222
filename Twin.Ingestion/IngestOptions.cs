using System.ComponentModel.DataAnnotations;

namespace Twin.Ingestion;

/// <summary>
/// The ingest pipeline's settings (<c>Twin:Ingest</c>), the same for every source. Earlier versions
/// read the payload limits from <c>Twin:Mqtt</c>; those keys still apply when these are not set.
/// </summary>
public sealed class IngestOptions : ITwinOptions, IValidatableObject
{
    public const string Section = "Twin:Ingest";

    static string ITwinOptions.Section => Section;

    /// <summary>Largest payload accepted, in bytes; larger ones are dead-lettered (MQTT) or refused with 400 (HTTP).</summary>
    [SettingRange(256, 16 * 1024 * 1024)]
    public int MaxPayloadBytes { get; set; } = 64 * 1024;

    /// <summary>Most sensor values in one telemetry message.</summary>
    [SettingRange(1, 100_000)]
    public int MaxValuesPerMessage { get; set; } = 256;

    /// <summary>Readings may be at most this far ahead of the gateway's clock.</summary>
    [SettingRange(typeof(TimeSpan), "00:00:00", "7.00:00:00")]
    public TimeSpan MaxClockSkew { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>Concurrent twin calls one source keeps going (one per machine at a time).</summary>
    [SettingRange(1, 100_000)]
    public int MaxConcurrentCalls { get; set; } = 256;

    /// <summary>First wait before a failed twin call is tried again; it doubles up to <see cref="MaxRetryDelay"/>.</summary>
    [SettingRange(typeof(TimeSpan), "00:00:00.001", "00:10:00")]
    public TimeSpan RetryDelay { get; set; } = TimeSpan.FromMilliseconds(100);

    /// <summary>
    /// Longest wait between tries of a failed twin call. Kept low: while one gateway waits, others
    /// sharing the subscription move on with the same machines' later readings.
    /// </summary>
    [SettingRange(typeof(TimeSpan), "00:00:00.001", "00:10:00")]
    public TimeSpan MaxRetryDelay { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// A machine whose twin has not taken a batch for this long (its silo hangs, its writes fail)
    /// has its readings parked: kept durably in the cluster and handed to the twin later, so that
    /// they can be acknowledged and the broker's in-flight window stays free for every other
    /// machine. <c>00:00:00</c> turns parking off (the readings then wait unacknowledged).
    /// </summary>
    [SettingRange(typeof(TimeSpan), "00:00:00", "00:10:00")]
    public TimeSpan ParkAfter { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>After parking, a machine's next readings go straight to parking for this long, then the twin is tried again.</summary>
    [SettingRange(typeof(TimeSpan), "00:00:00", "01:00:00")]
    public TimeSpan ParkFor { get; set; } = TimeSpan.FromSeconds(15);

    public PayloadLimits Limits => new() { MaxPayloadBytes = MaxPayloadBytes, MaxValuesPerMessage = MaxValuesPerMessage, MaxClockSkew = MaxClockSkew };

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (MaxRetryDelay < RetryDelay)
        {
            yield return new ValidationResult($"{Section}:RetryDelay ({RetryDelay}) must be at most {Section}:MaxRetryDelay ({MaxRetryDelay}).");
        }

        if (ParkAfter > TimeSpan.Zero && ParkAfter < TimeSpan.FromMilliseconds(500))
        {
            yield return new ValidationResult($"{Section}:ParkAfter is {ParkAfter}; use 00:00:00 (off) or 00:00:00.5 to 00:10:00.");
        }
    }
}

[OptionsValidator]
public sealed partial class IngestOptionsValidator : IValidateOptions<IngestOptions>;
