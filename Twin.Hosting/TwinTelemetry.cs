using System.ComponentModel.DataAnnotations;
using System.Diagnostics;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using OpenTelemetry;
using OpenTelemetry.Logs;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;
using Twin;

namespace Twin.Hosting;

/// <summary>Where telemetry goes (<c>Twin:Telemetry</c>).</summary>
public sealed class TwinTelemetryOptions : ITwinOptions, IValidatableObject
{
    public const string Section = "Twin:Telemetry";

    static string ITwinOptions.Section => Section;

    /// <summary>Serve metrics for Prometheus at <c>/metrics</c> (default on).</summary>
    public bool Prometheus { get; set; } = true;

    /// <summary>An OTLP collector (e.g. <c>http://otel-collector:4317</c>) for traces, metrics and logs; off when empty.</summary>
    public string? OtlpEndpoint { get; set; }

    /// <summary>Also write traces and metrics to the console (troubleshooting).</summary>
    public bool Console { get; set; }

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (!string.IsNullOrWhiteSpace(OtlpEndpoint) && !Uri.TryCreate(OtlpEndpoint, UriKind.Absolute, out _))
        {
            yield return new ValidationResult($"{Section}:OtlpEndpoint '{OtlpEndpoint}' is not an absolute URI (e.g. http://otel-collector:4317).");
        }
    }
}

[OptionsValidator]
public sealed partial class TwinTelemetryOptionsValidator : IValidateOptions<TwinTelemetryOptions>;

/// <summary>
/// OpenTelemetry for both hosts: traces from MQTT receive through Orleans grain calls (activity
/// propagation) to PostgreSQL and HTTP; the twins' metrics, Orleans' meters and runtime metrics;
/// logs carrying trace and span ids. Exporters: Prometheus scrape endpoint, OTLP, console.
/// </summary>
public static class TwinTelemetry
{
    /// <summary>The activity source of the project's own spans.</summary>
    public static readonly ActivitySource Source = new("FactoryTwin");

    public static IHostApplicationBuilder AddTwinTelemetry(this IHostApplicationBuilder builder, string serviceName)
    {
        builder.Services.AddTwinOptions<TwinTelemetryOptions, TwinTelemetryOptionsValidator>();
        var options = builder.Configuration.GetTwinOptions<TwinTelemetryOptions, TwinTelemetryOptionsValidator>();
        var otlp = string.IsNullOrWhiteSpace(options.OtlpEndpoint) ? null : new Uri(options.OtlpEndpoint, UriKind.Absolute);

        // Console and OTLP log records carry the trace of the request they belong to.
        builder.Logging.Configure(o => o.ActivityTrackingOptions = ActivityTrackingOptions.TraceId | ActivityTrackingOptions.SpanId);
        if (otlp is not null)
        {
            builder.Logging.AddOpenTelemetry(o =>
            {
                o.IncludeScopes = true;
                o.AddOtlpExporter(e => e.Endpoint = otlp);
            });
        }

        var telemetry = builder.Services.AddOpenTelemetry()
            .ConfigureResource(r => r.AddService(serviceName, serviceInstanceId: Environment.MachineName));

        // Spans are recorded only when something receives them: with no exporter, every grain
        // call, MQTT message and SignalR send would build an activity just to drop it.
        if (otlp is not null || options.Console)
        {
            telemetry.WithTracing(tracing =>
            {
                tracing.AddSource(Source.Name, "Microsoft.Orleans.Runtime", "Microsoft.Orleans.Application", "Npgsql", "Microsoft.AspNetCore.SignalR.Server")
                    .AddAspNetCoreInstrumentation(o =>
                    {
                        o.Filter = context => !context.Request.Path.StartsWithSegments("/health") && !context.Request.Path.StartsWithSegments("/metrics");
                        // Query strings carry tokens (the hub's access_token, the dashboard's
                        // ?token=): never exported, even with the instrumentation's redaction off.
                        o.EnrichWithHttpRequest = (activity, _) => activity.SetTag("url.query", null);
                    })
                    .AddHttpClientInstrumentation();
                if (otlp is not null)
                {
                    tracing.AddOtlpExporter(e => e.Endpoint = otlp);
                }

                if (options.Console)
                {
                    tracing.AddConsoleExporter();
                }
            });
        }

        telemetry
            .WithMetrics(metrics =>
            {
                metrics.AddMeter(TwinMeters.Name, "Microsoft.Orleans")
                    .AddAspNetCoreInstrumentation()
                    .AddRuntimeInstrumentation();
                if (options.Prometheus)
                {
                    metrics.AddPrometheusExporter();
                }

                if (otlp is not null)
                {
                    metrics.AddOtlpExporter(e => e.Endpoint = otlp);
                }

                if (options.Console)
                {
                    metrics.AddConsoleExporter();
                }
            });
        return builder;
    }

    /// <summary>Maps <c>/metrics</c> when the Prometheus exporter is on.</summary>
    public static IEndpointRouteBuilder MapTwinMetrics(this IEndpointRouteBuilder endpoints)
    {
        if (endpoints.ServiceProvider.GetRequiredService<IOptions<TwinTelemetryOptions>>().Value.Prometheus)
        {
            endpoints.MapPrometheusScrapingEndpoint("/metrics").AllowAnonymous();
        }

        return endpoints;
    }
}
