using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Twin.Hosting;

/// <summary>
/// The live feed's Orleans memory streams (<c>Twin:Live</c>): the same in every silo and every
/// client-mode gateway. Each queue has one pulling agent in the cluster, which looks for new twin
/// changes every <see cref="PollingPeriod"/>: that period is the added delay of the feed, and the
/// cost of an idle cluster (one local call per queue per period).
/// </summary>
public sealed class LiveStreamOptions
{
    public const string Section = "Twin:Live";

    /// <summary>How often each queue's pulling agent looks for new changes (1 ms to 1 s).</summary>
    public TimeSpan PollingPeriod { get; set; } = TimeSpan.FromMilliseconds(10);

    /// <summary>Stream queues in the cluster, spread over the silos (1–64).</summary>
    public int Queues { get; set; } = 4;

    /// <summary>Reads the section as the stream provider is configured from it (before the host starts).</summary>
    public static LiveStreamOptions From(Microsoft.Extensions.Configuration.IConfiguration configuration)
    {
        var options = new LiveStreamOptions();
        Microsoft.Extensions.Configuration.ConfigurationBinder.Bind(configuration.GetSection(Section), options);
        return options;
    }

    /// <summary>Binds and validates the section: a start with a bad value fails naming the setting.</summary>
    public static void AddTo(IServiceCollection services) =>
        services.AddOptions<LiveStreamOptions>().BindConfiguration(Section)
            .Validate(o => o.PollingPeriod >= TimeSpan.FromMilliseconds(1) && o.PollingPeriod <= TimeSpan.FromSeconds(1), "Twin:Live:PollingPeriod must be from 00:00:00.001 to 00:00:01.")
            .Validate(o => o.Queues is >= 1 and <= 64, "Twin:Live:Queues must be from 1 to 64.")
            .ValidateOnStart();
}
