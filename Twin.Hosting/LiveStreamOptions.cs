using Microsoft.Extensions.Options;

namespace Twin.Hosting;

/// <summary>
/// The live feed's Orleans memory streams (<c>Twin:Live</c>): the same in every silo and every
/// client-mode gateway. Each queue has one pulling agent in the cluster, which looks for new twin
/// changes every <see cref="PollingPeriod"/>: that period is the added delay of the feed, and the
/// cost of an idle cluster (one local call per queue per period). Read before the host starts,
/// to configure the stream provider, and validated then too.
/// </summary>
public sealed class LiveStreamOptions : ITwinOptions
{
    public const string Section = "Twin:Live";

    static string ITwinOptions.Section => Section;

    /// <summary>How often each queue's pulling agent looks for new changes (1 ms to 1 s).</summary>
    [SettingRange(typeof(TimeSpan), "00:00:00.001", "00:00:01")]
    public TimeSpan PollingPeriod { get; set; } = TimeSpan.FromMilliseconds(10);

    /// <summary>Stream queues in the cluster, spread over the silos (1–64).</summary>
    [SettingRange(1, 64)]
    public int Queues { get; set; } = 4;
}

[OptionsValidator]
public sealed partial class LiveStreamOptionsValidator : IValidateOptions<LiveStreamOptions>;
