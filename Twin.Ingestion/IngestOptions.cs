namespace Twin.Ingestion;

/// <summary>
/// The ingest pipeline's settings (<c>Twin:Ingest</c>), the same for every source. Earlier versions
/// read the payload limits from <c>Twin:Mqtt</c>; those keys still apply when these are not set.
/// </summary>
public sealed class IngestOptions
{
    public const string Section = "Twin:Ingest";

    /// <summary>Largest payload accepted, in bytes; larger ones are dead-lettered (MQTT) or refused with 400 (HTTP).</summary>
    public int MaxPayloadBytes { get; set; } = 64 * 1024;

    /// <summary>Most sensor values in one telemetry message.</summary>
    public int MaxValuesPerMessage { get; set; } = 256;

    /// <summary>Readings may be at most this far ahead of the gateway's clock.</summary>
    public TimeSpan MaxClockSkew { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>Concurrent twin calls one source keeps going (one per machine at a time).</summary>
    public int MaxConcurrentCalls { get; set; } = 256;

    /// <summary>First wait before a failed twin call is tried again; it doubles up to <see cref="MaxRetryDelay"/>.</summary>
    public TimeSpan RetryDelay { get; set; } = TimeSpan.FromMilliseconds(100);

    /// <summary>
    /// Longest wait between tries of a failed twin call. Kept low: while one gateway waits, others
    /// sharing the subscription move on with the same machines' later readings.
    /// </summary>
    public TimeSpan MaxRetryDelay { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// A machine whose twin has not taken a batch for this long (its silo hangs, its writes fail)
    /// has its readings parked: kept durably in the cluster and handed to the twin later, so that
    /// they can be acknowledged and the broker's in-flight window stays free for every other
    /// machine. <c>00:00:00</c> turns parking off (the readings then wait unacknowledged).
    /// </summary>
    public TimeSpan ParkAfter { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>After parking, a machine's next readings go straight to parking for this long, then the twin is tried again.</summary>
    public TimeSpan ParkFor { get; set; } = TimeSpan.FromSeconds(15);

    public PayloadLimits Limits => new() { MaxPayloadBytes = MaxPayloadBytes, MaxValuesPerMessage = MaxValuesPerMessage, MaxClockSkew = MaxClockSkew };
}

/// <summary>Refuses settings the pipeline cannot run with, naming each one.</summary>
internal sealed class IngestOptionsValidator : IValidateOptions<IngestOptions>
{
    public ValidateOptionsResult Validate(string? name, IngestOptions o)
    {
        var errors = new List<string>();
        if (o.MaxPayloadBytes is < 256 or > 16 * 1024 * 1024)
        {
            errors.Add($"Twin:Ingest:MaxPayloadBytes is {o.MaxPayloadBytes}; use 256 to 16777216 bytes.");
        }

        if (o.MaxValuesPerMessage is < 1 or > 100_000)
        {
            errors.Add($"Twin:Ingest:MaxValuesPerMessage is {o.MaxValuesPerMessage}; use 1 to 100000.");
        }

        if (o.MaxClockSkew < TimeSpan.Zero || o.MaxClockSkew > TimeSpan.FromDays(7))
        {
            errors.Add($"Twin:Ingest:MaxClockSkew is {o.MaxClockSkew}; use 00:00:00 to 7.00:00:00.");
        }

        if (o.MaxConcurrentCalls is < 1 or > 100_000)
        {
            errors.Add($"Twin:Ingest:MaxConcurrentCalls is {o.MaxConcurrentCalls}; use 1 to 100000.");
        }

        if (o.RetryDelay <= TimeSpan.Zero || o.MaxRetryDelay < o.RetryDelay || o.MaxRetryDelay > TimeSpan.FromMinutes(10))
        {
            errors.Add($"Twin:Ingest:RetryDelay ({o.RetryDelay}) must be positive and at most Twin:Ingest:MaxRetryDelay ({o.MaxRetryDelay}), which is at most 00:10:00.");
        }

        if (o.ParkAfter < TimeSpan.Zero || o.ParkAfter > TimeSpan.FromMinutes(10) || (o.ParkAfter > TimeSpan.Zero && o.ParkAfter < TimeSpan.FromMilliseconds(500)))
        {
            errors.Add($"Twin:Ingest:ParkAfter is {o.ParkAfter}; use 00:00:00 (off) or 00:00:00.5 to 00:10:00.");
        }

        if (o.ParkFor < TimeSpan.Zero || o.ParkFor > TimeSpan.FromHours(1))
        {
            errors.Add($"Twin:Ingest:ParkFor is {o.ParkFor}; use 00:00:00 to 01:00:00.");
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
