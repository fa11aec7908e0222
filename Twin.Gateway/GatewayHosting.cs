using Twin.Hosting;
using System.Text.Json.Serialization;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;
using Twin.Gateway.Api;
using Twin.Ingestion;
using Twin.Gateway.Mqtt;
using Twin.Gateway.Security;
using Twin.Gateway.Simulation;
using Twin.Gateway.Uns;
using Twin.Gateway.Embedded;
using Twin.History;

namespace Twin.Gateway;

/// <summary>Composition of the gateway: grains (co-hosted or remote), MQTT, HTTP API, health.</summary>
public static class GatewayHosting
{
    public static WebApplicationBuilder AddTwinGateway(this WebApplicationBuilder builder)
    {
        var services = builder.Services;
        builder.AddTwinSecurity();
        services.AddTwinOptions<GatewayOptions, GatewayOptionsValidator>();
        services.AddTwinOptions<BrokerOptions, BrokerOptionsValidator>();
        services.AddTwinOptions<MqttOptions, MqttOptionsValidator>();
        services.AddTwinOptions<SimulatorOptions, SimulatorOptionsValidator>();
        services.AddTwinOptions<HttpLimitsOptions, HttpLimitsOptionsValidator>();
        services.AddSingleton(TimeProvider.System);
        services.AddTwinIngestion(builder.Configuration);

        var gateway = builder.Configuration.GetTwinOptions<GatewayOptions, GatewayOptionsValidator>();
        var broker = builder.Configuration.GetTwinOptions<BrokerOptions, BrokerOptionsValidator>();
        var mqtt = builder.Configuration.GetTwinOptions<MqttOptions, MqttOptionsValidator>();
        var simulator = builder.Configuration.GetTwinOptions<SimulatorOptions, SimulatorOptionsValidator>();

        // Hosted services start in registration order: silo, broker, consumer, simulator.
        if (gateway.IsEmbedded)
        {
            builder.AddEmbeddedSilo();
        }
        else
        {
            AddClusterClient(builder);
        }

        services.AddSingleton<BrokerServiceAccount>();
        if (broker.Enabled)
        {
            services.AddHostedService<EmbeddedBroker>();
        }

        builder.AddTwinTelemetry(gateway.IsEmbedded ? "twin-gateway-embedded" : "twin-gateway");
        services.AddSingleton<MqttIngestService>();
        if (mqtt.Enabled)
        {
            services.AddHostedService(sp => sp.GetRequiredService<MqttIngestService>());
        }

        if (simulator.Enabled)
        {
            services.AddHostedService<DemoFactorySimulator>();
        }

        services.AddHostedService<StartupBanner>();
        services.AddTwinOptions<Twin.Gateway.Live.LiveOptions, Twin.Gateway.Live.LiveOptionsValidator>();
        services.AddSignalR(o => o.MaximumReceiveMessageSize = 32 * 1024)
            .AddJsonProtocol(o => o.PayloadSerializerOptions.Converters.Add(new JsonStringEnumConverter(System.Text.Json.JsonNamingPolicy.CamelCase)));
        services.AddSingleton<Twin.Gateway.Live.LiveFeed>();
        services.AddSingleton<Twin.Gateway.Live.HubIdentities>();
        services.AddHostedService(sp => sp.GetRequiredService<Twin.Gateway.Live.LiveFeed>());

        // Publish-back watches through the live feed, so it starts after it.
        services.AddTwinOptions<UnsPublishOptions, UnsPublishOptionsValidator>();
        services.AddSingleton<IPostConfigureOptions<UnsPublishOptions>, UnsIngestFilters>();
        if (builder.Configuration.GetSection(UnsPublishOptions.Section).Get<UnsPublishOptions>() is { Enabled: true })
        {
            services.AddSingleton<UnsPublisher>();
            services.AddHostedService(sp => sp.GetRequiredService<UnsPublisher>());
        }

        services.ConfigureHttpJsonOptions(o =>
        {
            o.SerializerOptions.Converters.Add(new JsonStringEnumConverter(System.Text.Json.JsonNamingPolicy.CamelCase));
            o.SerializerOptions.MaxDepth = 16;
        });
        services.AddProblemDetails();
        services.AddExceptionHandler<TwinExceptionHandler>();

        // A body that does not bind (a string where a number belongs) answers ProblemDetails naming
        // the field, like every other 400, instead of an empty response.
        services.Configure<Microsoft.AspNetCore.Routing.RouteHandlerOptions>(o => o.ThrowOnBadRequest = true);
        services.AddOpenApi();
        services.AddHealthChecks()
            .AddCheck<ClusterHealthCheck>("cluster", tags: ["ready"])
            .AddCheck<MqttHealthCheck>("mqtt", tags: ["ready"])
            .AddCheck<UnsPublishHealthCheck>("uns-publish", tags: ["ready"]);
        return builder;
    }

    /// <summary>
    /// Client mode: with <c>Twin:Cluster:Membership=PostgreSql</c> the gateway finds the silos in the
    /// same membership table they use; otherwise a silo on this machine (<c>Twin:Client</c>).
    /// </summary>
    private static void AddClusterClient(WebApplicationBuilder builder)
    {
        builder.Services.AddSingleton<IClientConnectionRetryFilter, ClusterConnectionRetry>();
        var cluster = builder.Configuration.GetTwinOptions<TwinClusterOptions, TwinClusterOptionsValidator>();

        // The live feed's streams, as the silos have them (Twin.Silo's AddTwinLiveStreams): this gateway subscribes to them.
        builder.Services.AddTwinOptions<LiveStreamOptions, LiveStreamOptionsValidator>();
        var live = builder.Configuration.GetTwinOptions<LiveStreamOptions, LiveStreamOptionsValidator>();
        builder.UseOrleansClient(client => client.AddMemoryStreams(Twin.Live.TwinTopic.StreamProvider, streams =>
        {
            streams.ConfigurePartitioning(live.Queues);
            streams.ConfigureStreamPubSub(Orleans.Streams.StreamPubSubType.ExplicitGrainBasedOnly);
        }));
        if (!cluster.IsPostgreSql)
        {
            builder.AddTwinClient();
            return;
        }

        var connectionString = builder.Configuration[$"{TwinStorageOptions.Section}:ConnectionString"];
        if (string.IsNullOrWhiteSpace(connectionString))
        {
            throw new Twin.Hosting.TwinSettingsException("Twin:Cluster:Membership is 'PostgreSql' but Twin:Storage:ConnectionString is not set: the gateway reads the silos from the cluster's membership table.");
        }

        builder.AddTwinClient(client =>
        {
            client.UseAdoNetClustering(o =>
            {
                o.Invariant = PostgresInvariant.Name;
                o.ConnectionString = connectionString;
            });
            client.Configure<Orleans.Configuration.ClusterOptions>(o =>
            {
                o.ClusterId = cluster.ClusterId;
                o.ServiceId = cluster.ServiceId;
            });
        });
    }

    public static WebApplication MapTwinGateway(this WebApplication app)
    {
        app.UseExceptionHandler();
        app.UseStatusCodePages();
        app.UseSecurityHeaders();
        // The dashboard, served from the wwwroot beside the program (works offline, no CDN).
        // Static files are public and come before routing and authorization.
        var webRoot = Path.Combine(AppContext.BaseDirectory, "wwwroot");
        if (Directory.Exists(webRoot))
        {
            var files = new Microsoft.Extensions.FileProviders.PhysicalFileProvider(webRoot);
            app.UseDefaultFiles(new DefaultFilesOptions { FileProvider = files });
            app.UseStaticFiles(new StaticFileOptions { FileProvider = files });
        }

        app.UseTwinSecurity();
        app.MapOpenApi().AllowAnonymous();
        app.MapGet("/api/gateway/ingest", IngestStatisticsApi.Get)
            .RequireAuthorization(TwinPolicies.Viewer).WithMetadata(new TwinPolicies.CrossFactory())
            .WithTags("Gateway").WithName("GetIngestStatistics").WithSummary("What this gateway process ingested since it started, for the caller's factories.");
        app.MapHub<Twin.Gateway.Live.TwinHub>("/hubs/twins", o => o.CloseOnAuthenticationExpiration = true)
            .RequireAuthorization(TwinPolicies.Viewer).WithMetadata(new TwinPolicies.CrossFactory());
        app.MapTwinMetrics();
        app.MapMachineApi();
        app.MapTelemetryApi();
        app.MapLineApi();
        app.MapBinApi();
        app.MapWorkOrderApi();
        app.MapDeadLetterApi();
        app.MapBusinessEventApi();
        app.MapProfileApi();
        app.MapTicketApi();
        app.MapEffectApi();
        app.MapPurchaseRequestApi();
        app.MapReliabilityApi();
        app.MapHistoryApi();
        app.MapKpiApi();
        app.MapQualityApi();
        app.MapGenealogyApi();
        app.MapPlanningApi();
        app.MapPlmApi();

        // Liveness never depends on storage or the cluster: only that the process answers.
        app.MapHealthChecks("/health/live", new HealthCheckOptions { Predicate = _ => false }).AllowAnonymous();
        app.MapHealthChecks("/health/ready", new HealthCheckOptions
        {
            Predicate = c => c.Tags.Contains("ready"),
            ResultStatusCodes =
            {
                [HealthStatus.Healthy] = StatusCodes.Status200OK,
                [HealthStatus.Degraded] = StatusCodes.Status200OK,
                [HealthStatus.Unhealthy] = StatusCodes.Status503ServiceUnavailable,
            },
            ResponseWriter = HealthResponse.WriteAsync,
        }).AllowAnonymous();
        return app;
    }
}

/// <summary>A gateway may start before the silos (a fresh install, a full restart): keep trying for a while.</summary>
internal sealed partial class ClusterConnectionRetry(ILogger<ClusterConnectionRetry> logger) : IClientConnectionRetryFilter
{
    private const int MaxAttempts = 60;
    private int _attempts;

    public async Task<bool> ShouldRetryConnectionAttempt(Exception exception, CancellationToken cancellationToken)
    {
        var attempt = Interlocked.Increment(ref _attempts);
        if (attempt > MaxAttempts || cancellationToken.IsCancellationRequested)
        {
            return false;
        }

        LogRetrying(exception, attempt, MaxAttempts);
        await Task.Delay(TimeSpan.FromSeconds(2), cancellationToken);
        return true;
    }

    [LoggerMessage(EventId = TwinEvents.ClusterConnectionRetryRetrying, Level = LogLevel.Warning, Message = "No silo reachable yet (attempt {Attempt} of {Max}); retrying in 2 s")]
    private partial void LogRetrying(Exception exception, int attempt, int max);
}

/// <summary>Says on the console where to look once everything has started.</summary>
internal sealed partial class StartupBanner(
    IHostApplicationLifetime lifetime,
    IServer server,
    IOptions<GatewayOptions> gateway,
    IOptions<TwinStorageOptions> storage,
    IOptions<BrokerOptions> broker,
    IOptions<MqttOptions> mqtt,
    IOptions<SimulatorOptions> simulator,
    IOptions<AuthOptions> auth,
    ILogger<StartupBanner> logger) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        lifetime.ApplicationStarted.Register(() =>
        {
            if (!logger.IsEnabled(LogLevel.Information))
            {
                return;
            }

            var addresses = server.Features.Get<IServerAddressesFeature>()?.Addresses ?? [];
            var http = addresses.FirstOrDefault() ?? "(no HTTP address)";
            var factory = simulator.Value.Enabled ? simulator.Value.Factory : "{factory}";
            var mode = gateway.Value.IsEmbedded ? $"embedded (silo co-hosted, state in {storage.Value.Provider})" : "client (connected to separate silos)";
            var brokerText = broker.Value.Enabled ? $"embedded broker on {broker.Value.Host}:{broker.Value.Port}" : "no embedded broker";
            var consumerText = mqtt.Value.Enabled ? $"consuming {mqtt.Value.Host}:{mqtt.Value.Port}" : "consumer off";
            var simulatorText = simulator.Value.Enabled ? $"demo factory '{simulator.Value.Factory}' simulated" : "simulator off";
            var example = $"{http}/api/factories/{factory}/machines";
            var authText = auth.Value.IsJwt
                ? "Authentication: JWT bearer tokens"
                : "Authentication: none (listening on loopback only; set Twin:Auth:Mode=Jwt to listen beyond it)";
            var devicesText = broker.Value.Enabled
                ? broker.Value.Devices.Count > 0 ? $"{broker.Value.Devices.Count} device account(s)" : "anonymous devices (loopback only)"
                : "external broker";
            LogReady(mode, http, brokerText, consumerText, simulatorText, example);
            LogSecurity(authText, devicesText);
        });
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    [LoggerMessage(EventId = TwinEvents.StartupBannerReady, Level = LogLevel.Information, Message = "Factory Twin is ready. Mode: {Mode}. HTTP: {Http}. MQTT: {Broker}, {Consumer}. {Simulator}. Try: {Example}")]
    private partial void LogReady(string mode, string http, string broker, string consumer, string simulator, string example);

    [LoggerMessage(EventId = TwinEvents.StartupBannerSecurity, Level = LogLevel.Information, Message = "{Authentication}. MQTT devices: {Devices}.")]
    private partial void LogSecurity(string authentication, string devices);
}

internal static class HealthResponse
{
    public static Task WriteAsync(HttpContext context, HealthReport report)
    {
        context.Response.ContentType = "application/json";
        var body = new
        {
            status = report.Status.ToString(),
            checks = report.Entries.ToDictionary(e => e.Key, e => new { status = e.Value.Status.ToString(), description = e.Value.Description }),
        };
        return context.Response.WriteAsJsonAsync(body);
    }
}
