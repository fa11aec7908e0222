using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace Twin.Silo.History;

/// <summary>The reading history (<c>Twin:History</c>).</summary>
public sealed class TwinHistoryOptions : ITwinOptions, IValidatableObject
{
    public const string Section = "Twin:History";

    static string ITwinOptions.Section => Section;

    /// <summary>Store every accepted reading (default on). Off: nothing is written and the history endpoint answers 503.</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>How long raw readings are kept (default 7 days, at least one hour).</summary>
    [SettingRange(typeof(TimeSpan), "01:00:00", "36500.00:00:00")]
    public TimeSpan RawRetention { get; set; } = TimeSpan.FromDays(7);

    /// <summary>How long the 1-minute aggregates are kept (default 400 days).</summary>
    [SettingRange(typeof(TimeSpan), "01:00:00", "36500.00:00:00")]
    public TimeSpan AggregateRetention { get; set; } = TimeSpan.FromDays(400);

    /// <summary>Most readings written in one transaction.</summary>
    [SettingRange(1, 100_000)]
    public int BatchSize { get; set; } = 5000;

    /// <summary>How long the writer gathers readings before it writes them (unless a full batch is waiting).</summary>
    [SettingRange(typeof(TimeSpan), "00:00:00", "00:01:00")]
    public TimeSpan FlushInterval { get; set; } = TimeSpan.FromMilliseconds(200);

    /// <summary>
    /// Twin commits waiting to be written, at most. When the store cannot keep up (or is down) longer
    /// than that, further readings are dropped from the history (counted and logged); the twins never wait.
    /// </summary>
    [SettingRange(1, 10_000_000)]
    public int QueueCapacity { get; set; } = 20_000;

    /// <summary>How often expired readings and aggregates are deleted (default hourly).</summary>
    [SettingRange(typeof(TimeSpan), "00:00:01", "365.00:00:00")]
    public TimeSpan CleanupInterval { get; set; } = TimeSpan.FromHours(1);

    /// <summary>Rows deleted per statement when cleaning up, so a cleanup never holds long locks.</summary>
    [SettingRange(1, 1_000_000)]
    public int CleanupBatchSize { get; set; } = 5000;

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (AggregateRetention < RawRetention)
        {
            yield return new ValidationResult($"{Section}:AggregateRetention ({AggregateRetention}) must be at least {Section}:RawRetention ({RawRetention}).");
        }
    }
}

[OptionsValidator]
public sealed partial class TwinHistoryOptionsValidator : IValidateOptions<TwinHistoryOptions>;
