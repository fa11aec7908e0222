using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Polly;
using Polly.Retry;

namespace Twin.Ingestion;

/// <summary>Registers the ingest pipeline, its settings, mapping profiles and statistics.</summary>
public static class IngestionHosting
{
    public static IServiceCollection AddTwinIngestion(this IServiceCollection services, IConfiguration configuration)
    {
        // Before Twin:Ingest is bound, so that its keys win over the legacy ones.
        services.AddOptions<IngestOptions>().Configure(o => LegacyMqttLimits(configuration, o));
        services.AddTwinOptions<IngestOptions, IngestOptionsValidator>();
        services.AddTwinOptions<ProfilesOptions, ProfilesOptionsValidator>();
        services.AddTwinOptions<Sparkplug.SparkplugOptions, Sparkplug.SparkplugOptionsValidator>();
        services.AddSingleton<ProfileProvider>();
        services.AddSingleton<LineMembership>();
        services.AddSingleton<IngestStatistics>();
        services.AddSingleton<IngestPipeline>();
        services.AddResiliencePipeline<string>(IngestPipeline.RetryPipeline, (builder, context) =>
        {
            var o = context.ServiceProvider.GetRequiredService<IOptions<IngestOptions>>().Value;
            var logger = context.ServiceProvider.GetRequiredService<ILoggerFactory>().CreateLogger<IngestPipeline>();
            builder.AddRetry(new RetryStrategyOptions
            {
                // Every failure of an idempotent twin call is retried: an Orleans call that failed
                // or timed out has an unknown outcome, and the twin dedups by sequence number.
                ShouldHandle = new PredicateBuilder().Handle<Exception>(ex => ex is not OperationCanceledException),
                MaxRetryAttempts = int.MaxValue,
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = true,
                Delay = o.RetryDelay,
                MaxDelay = o.MaxRetryDelay,
                OnRetry = args =>
                {
                    IngestLog.CallFailed(logger, args.Context.OperationKey ?? "?", args.AttemptNumber + 1, args.Outcome.Exception);
                    return ValueTask.CompletedTask;
                },
            });
        });
        return services;
    }

    /// <summary>The limits earlier versions took from <c>Twin:Mqtt</c>, used when <c>Twin:Ingest</c> does not set them.</summary>
    private static void LegacyMqttLimits(IConfiguration configuration, IngestOptions o)
    {
        var mqtt = configuration.GetSection("Twin:Mqtt");
        if (int.TryParse(mqtt["MaxPayloadBytes"], System.Globalization.CultureInfo.InvariantCulture, out var bytes))
        {
            o.MaxPayloadBytes = bytes;
        }

        if (int.TryParse(mqtt["MaxValuesPerMessage"], System.Globalization.CultureInfo.InvariantCulture, out var values))
        {
            o.MaxValuesPerMessage = values;
        }

        if (TimeSpan.TryParse(mqtt["MaxClockSkew"], System.Globalization.CultureInfo.InvariantCulture, out var skew))
        {
            o.MaxClockSkew = skew;
        }

        if (int.TryParse(mqtt["MaxConcurrentCalls"], System.Globalization.CultureInfo.InvariantCulture, out var calls))
        {
            o.MaxConcurrentCalls = calls;
        }
    }
}

internal static partial class IngestLog
{
    [LoggerMessage(EventId = TwinEvents.IngestLogCallFailed, Level = LogLevel.Warning, Message = "Twin call for {Key} failed (attempt {Attempt}); retrying")]
    public static partial void CallFailed(ILogger logger, string key, int attempt, Exception? exception);
}
