using Microsoft.Extensions.Options;

namespace Twin.Silo.History;

/// <summary>The reading history (<c>Twin:History</c>).</summary>
public sealed class TwinHistoryOptions
{
    public const string Section = "Twin:History";

    /// <summary>Store every accepted reading (default on). Off: nothing is written and the history endpoint answers 503.</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>How long raw readings are kept (default 7 days).</summary>
    public TimeSpan RawRetention { get; set; } = TimeSpan.FromDays(7);

    /// <summary>How long the 1-minute aggregates are kept (default 400 days).</summary>
    public TimeSpan AggregateRetention { get; set; } = TimeSpan.FromDays(400);

    /// <summary>Most readings written in one transaction.</summary>
    public int BatchSize { get; set; } = 5000;

    /// <summary>How long the writer gathers readings before it writes them (unless a full batch is waiting).</summary>
    public TimeSpan FlushInterval { get; set; } = TimeSpan.FromMilliseconds(200);

    /// <summary>
    /// Twin commits waiting to be written, at most. When the store cannot keep up (or is down) longer
    /// than that, further readings are dropped from the history (counted and logged); the twins never wait.
    /// </summary>
    public int QueueCapacity { get; set; } = 20_000;

    /// <summary>How often expired readings and aggregates are deleted (default hourly).</summary>
    public TimeSpan CleanupInterval { get; set; } = TimeSpan.FromHours(1);

    /// <summary>Rows deleted per statement when cleaning up, so a cleanup never holds long locks.</summary>
    public int CleanupBatchSize { get; set; } = 5000;
}

internal sealed class TwinHistoryOptionsValidator : IValidateOptions<TwinHistoryOptions>
{
    public ValidateOptionsResult Validate(string? name, TwinHistoryOptions options)
    {
        var errors = new List<string>();
        if (options.RawRetention < TimeSpan.FromHours(1))
        {
            errors.Add($"Twin:History:RawRetention is {options.RawRetention}; keep raw readings at least one hour (e.g. '7.00:00:00').");
        }

        if (options.AggregateRetention < options.RawRetention)
        {
            errors.Add($"Twin:History:AggregateRetention ({options.AggregateRetention}) must be at least Twin:History:RawRetention ({options.RawRetention}).");
        }

        if (options.BatchSize is < 1 or > 100_000)
        {
            errors.Add($"Twin:History:BatchSize is {options.BatchSize}; use 1 to 100000 readings per transaction.");
        }

        if (options.FlushInterval < TimeSpan.Zero || options.FlushInterval > TimeSpan.FromMinutes(1))
        {
            errors.Add($"Twin:History:FlushInterval is {options.FlushInterval}; use 0 to 1 minute (e.g. '00:00:00.200').");
        }

        if (options.QueueCapacity is < 1 or > 10_000_000)
        {
            errors.Add($"Twin:History:QueueCapacity is {options.QueueCapacity}; use 1 to 10000000 queued twin commits.");
        }

        if (options.CleanupInterval < TimeSpan.FromSeconds(1))
        {
            errors.Add($"Twin:History:CleanupInterval is {options.CleanupInterval}; use at least one second (default '01:00:00').");
        }

        if (options.CleanupBatchSize is < 1 or > 1_000_000)
        {
            errors.Add($"Twin:History:CleanupBatchSize is {options.CleanupBatchSize}; use 1 to 1000000 rows per statement.");
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
