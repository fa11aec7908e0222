using Twin.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using System.Net;
using Orleans.Configuration;
using Orleans.Runtime.Hosting;
using Orleans.Serialization;
using Orleans.Storage;
using Twin.Grains.Domain;
using Twin.Grains.Infrastructure;
using Twin.Grains.Live;
using Twin.Grains.Maintenance;
using Twin.Live;
using Orleans.Providers;
using Orleans.Streams;
using Twin.History;
using Twin.Silo.History;
using Twin.Silo.Storage;

namespace Twin.Silo;

/// <summary>
/// The one silo setup, used by the <c>Twin.Silo</c> host and by the gateway's embedded mode.
/// </summary>
public static class TwinSiloHosting
{
    /// <summary>The ADO.NET invariant Orleans uses to load Npgsql.</summary>
    public const string PostgresInvariant = Twin.Hosting.PostgresInvariant.Name;

    private const string AdoNetStorageName = "twins-adonet";

    /// <summary>Adds a Factory Twin silo to the host, configured from <c>Twin:*</c>.</summary>
    public static IHostApplicationBuilder AddTwinSilo(this IHostApplicationBuilder builder)
    {
        builder.Services.AddTwinSiloOptions();
        var storage = builder.Configuration.GetTwinOptions<TwinStorageOptions, TwinStorageOptionsValidator>();
        var cluster = builder.Configuration.GetTwinOptions<TwinClusterOptions, TwinClusterOptionsValidator>(c => c.SiloStorage = storage.Provider);

        // Before the silo: its providers need the schema to be there.
        builder.Services.AddHostedService<PostgresSchemaGate>();
        // Before the silo too: the history writer starts first and stops last, after the twins have handed it their readings.
        builder.Services.AddTwinHistory(builder.Configuration, write: true);
        builder.UseOrleans(silo => silo.UseTwinGrains(cluster));
        return builder;
    }

    /// <summary>Binds and validates the silo's options (fails at start with the setting's name).</summary>
    public static IServiceCollection AddTwinSiloOptions(this IServiceCollection services)
    {
        services.AddTwinOptions<TwinStorageOptions, TwinStorageOptionsValidator>();
        services.AddTwinOptions<TwinClusterOptions, TwinClusterOptionsValidator>()
            .Configure<IOptions<TwinStorageOptions>>((cluster, storage) => cluster.SiloStorage = storage.Value.Provider);
        services.AddTwinOptions<MachineTwinOptions, MachineTwinOptionsValidator>();
        services.AddTwinOptions<MaintenanceOptions, MaintenanceOptionsValidator>();
        services.AddTwinOptions<Twin.Grains.Quality.QualityOptions, Twin.Grains.Quality.QualityOptionsValidator>();
        services.AddTwinOptions<Twin.Grains.Effects.EffectOptions, Twin.Grains.Effects.EffectOptionsValidator>();
        services.AddTwinOptions<LiveFeedOptions, LiveFeedOptionsValidator>();
        services.AddTwinOptions<LiveStreamOptions, LiveStreamOptionsValidator>();
        services.AddTwinOptions<Twin.Grains.Planning.PlanningOptions, Twin.Grains.Planning.PlanningOptionsValidator>();
        return services;
    }

    /// <summary>
    /// Clustering (localhost), the twin state storage and the grains' services. Test clusters call
    /// this too, with their own clustering already set.
    /// </summary>
    public static ISiloBuilder UseTwinGrains(this ISiloBuilder silo, TwinClusterOptions? cluster)
    {
        var storage = silo.Configuration.GetTwinOptions<TwinStorageOptions, TwinStorageOptionsValidator>();
        if (cluster is { IsPostgreSql: true })
        {
            silo.UseAdoNetClustering(o =>
            {
                o.Invariant = PostgresInvariant;
                o.ConnectionString = storage.ConnectionString;
            });
            silo.Configure<ClusterOptions>(o =>
            {
                o.ClusterId = cluster.ClusterId;
                o.ServiceId = cluster.ServiceId;
            });
            if (cluster.Kubernetes)
            {
                silo.UseKubernetesHosting();
            }

            if (cluster.Kubernetes && string.IsNullOrEmpty(cluster.AdvertisedAddress))
            {
                // The pod's IP is advertised (POD_IP); listen on every interface of the pod.
                silo.Configure<EndpointOptions>(o =>
                {
                    o.SiloPort = cluster.SiloPort;
                    o.GatewayPort = cluster.GatewayPort;
                    o.SiloListeningEndpoint = new IPEndPoint(IPAddress.Any, cluster.SiloPort);
                    o.GatewayListeningEndpoint = new IPEndPoint(IPAddress.Any, cluster.GatewayPort);
                });
            }
            else if (string.IsNullOrEmpty(cluster.AdvertisedAddress))
            {
                silo.ConfigureEndpoints(cluster.SiloPort, cluster.GatewayPort, listenOnAnyHostAddress: true);
            }
            else
            {
                var address = IPAddress.Parse(cluster.AdvertisedAddress);
                silo.ConfigureEndpoints(address, cluster.SiloPort, cluster.GatewayPort, listenOnAnyHostAddress: !IPAddress.IsLoopback(address));
            }

            silo.Configure<ClusterMembershipOptions>(o =>
            {
                o.ProbeTimeout = cluster.ProbeTimeout;
                o.NumMissedProbesLimit = cluster.MissedProbesLimit;
            });
        }
        else if (cluster is not null)
        {
            silo.UseLocalhostClustering(cluster.SiloPort, cluster.GatewayPort, serviceId: cluster.ServiceId, clusterId: cluster.ClusterId);
        }

        silo.AddActivityPropagation();
        silo.Services.TryAddSingleton<TwinClock>();
        silo.Services.TryAddSingleton<TwinMetrics>();
        silo.Services.TryAddSingleton<IHistorySink, NullHistorySink>();
        silo.Services.AddOptions<MachineTwinOptions>();
        silo.Services.AddOptions<LiveFeedOptions>();
        silo.AddTwinLiveStreams();
        silo.Services.AddOptions<Twin.Grains.Maintenance.MaintenanceOptions>();
        silo.Services.AddOptions<Twin.Grains.Quality.QualityOptions>();
        silo.Services.AddOptions<Twin.Grains.Effects.EffectOptions>();
        silo.Services.AddOptions<Twin.Grains.Planning.PlanningOptions>();
        silo.Services.AddTwinOptions<Twin.Silo.Integration.OutboundOptions, Twin.Silo.Integration.OutboundOptionsValidator>();
        silo.Services.AddHttpClient("twin-outbound");
        silo.Services.TryAddSingleton<Twin.Grains.Infrastructure.IOutboundDelivery, Twin.Silo.Integration.WebhookDelivery>();
        silo.Services.AddTwinOptions<OutboxOptions, OutboxOptionsValidator>();
        silo.Services.TryAddSingleton(TimeProvider.System);
        silo.Services.TryAddSingleton<OutboxDelivery>();
        silo.Services.TryAddSingleton<WakeServices>();
        silo.Services.TryAddSingleton<OutboxServices>();
        silo.Services.TryAddSingleton<HeartbeatWheel>();
        // Orleans refuses a reminder period below its minimum (1 minute): follow a shorter configured one.
        silo.Services.AddOptions<ReminderOptions>().Configure<IOptions<OutboxOptions>>((reminders, outbox) =>
        {
            if (outbox.Value.ReminderPeriod < reminders.MinimumReminderPeriod)
            {
                reminders.MinimumReminderPeriod = outbox.Value.ReminderPeriod;
            }
        });
        if (storage.IsPostgreSql)
        {
            // Orleans' ADO.NET providers over the project's own schema (Schema/PostgreSql); state is
            // serialized with the same Orleans serializer as in SQLite, so a twin's state moves as it is.
            silo.AddAdoNetGrainStorage(AdoNetStorageName, o => o.Configure<Serializer>((options, serializer) =>
            {
                options.Invariant = PostgresInvariant;
                options.ConnectionString = storage.ConnectionString;
                options.GrainStorageSerializer = new OrleansGrainStorageSerializer(serializer);
            }));
            silo.Services.AddGrainStorage(TwinStorage.Name, (services, _) => new WholeKeyGrainStorage(services.GetRequiredKeyedService<IGrainStorage>(AdoNetStorageName), services.GetRequiredService<Orleans.Serialization.DeepCopier>()));
            silo.UseAdoNetReminderService(o =>
            {
                o.Invariant = PostgresInvariant;
                o.ConnectionString = storage.ConnectionString;
            });
        }
        else if (storage.IsMemory)
        {
            silo.Services.AddGrainStorage(TwinStorage.Name, CreateStorage);
            silo.UseInMemoryReminderService();
        }
        else
        {
            silo.Services.AddGrainStorage(TwinStorage.Name, CreateStorage);
            silo.AddReminders();
            silo.Services.AddSingleton<IReminderTable>(sp => new SqliteReminderTable(SqlitePath(sp, sp.GetRequiredService<IOptions<TwinStorageOptions>>().Value)));
        }
        silo.AddTwinWakeRows();
        silo.Configure<GrainCollectionOptions>(o => o.CollectionAge = TimeSpan.FromMinutes(30));
        return silo;
    }

    /// <summary>
    /// The twins' wake rows (Twin.Grains' WakeTable) in the reminder table the storage mode chose,
    /// hidden from Orleans' reminder service, and the sweepers that read them: every silo makes sure
    /// at start that each sweeper has its reminder.
    /// </summary>
    private static void AddTwinWakeRows(this ISiloBuilder silo)
    {
        var table = silo.Services.Last(d => d.ServiceType == typeof(IReminderTable));
        silo.Services.Remove(table);
        silo.Services.AddSingleton(sp => new WakeTable((IReminderTable)(table.ImplementationInstance
            ?? table.ImplementationFactory?.Invoke(sp)
            ?? ActivatorUtilities.CreateInstance(sp, table.ImplementationType!))));
        silo.Services.AddSingleton<IReminderTable>(sp => sp.GetRequiredService<WakeTable>());
        silo.AddStartupTask(static (services, _) =>
        {
            var grains = services.GetRequiredService<IGrainFactory>();
            return Task.WhenAll(Enumerable.Range(0, WakeTable.Sweepers).Select(i => grains.GetGrain<IWakeSweeperGrain>(i).StartAsync()));
        });
    }

    /// <summary>How long a published change stays in a pulling agent's cache (for subscribers a few seconds behind).</summary>
    private static readonly TimeSpan CacheTime = TimeSpan.FromSeconds(5);

    /// <summary>
    /// The live feed: every twin publishes its durable changes to its stream (memory streams, which
    /// work across silos and clients); gateways subscribe for the twins their clients watch. The
    /// pulling agents poll their queues every <see cref="LiveStreamOptions.PollingPeriod"/> (Orleans'
    /// default of 100 ms would be most of the feed's latency). Subscriptions are kept in memory: the
    /// feed is best effort, and gateways check theirs (see the gateway's LiveFeed).
    /// </summary>
    public static ISiloBuilder AddTwinLiveStreams(this ISiloBuilder silo)
    {
        var live = silo.Configuration.GetTwinOptions<LiveStreamOptions, LiveStreamOptionsValidator>();
        silo.AddMemoryStreams(TwinTopic.StreamProvider, streams =>
        {
            streams.ConfigurePartitioning(live.Queues);
            streams.ConfigureStreamPubSub(StreamPubSubType.ExplicitGrainBasedOnly);
            streams.ConfigurePullingAgent(o => o.Configure(agent => agent.GetQueueMsgsTimerPeriod = live.PollingPeriod));

            // Nothing replays the feed (a subscriber resyncs by reading the twin), so a change leaves
            // the agent's cache after seconds, not Orleans' default of 30 minutes (hundreds of MB at ingest rates).
            streams.ConfigureCacheEviction(o => o.Configure(cache =>
            {
                cache.DataMinTimeInCache = CacheTime;
                cache.DataMaxAgeInCache = CacheTime;
            }));
        });
        silo.AddMemoryGrainStorage(ProviderConstants.DEFAULT_PUBSUB_PROVIDER_NAME);
        return silo;
    }

    private static string SqlitePath(IServiceProvider services, TwinStorageOptions options)
    {
        var environment = services.GetService<IHostEnvironment>();
        return Path.IsPathRooted(options.SqlitePath) || environment is null
            ? options.SqlitePath
            : Path.Combine(environment.ContentRootPath, options.SqlitePath);
    }

    private static IGrainStorage CreateStorage(IServiceProvider services, string name)
    {
        var options = services.GetRequiredService<IOptions<TwinStorageOptions>>().Value;
        if (options.IsMemory)
        {
            return ActivatorUtilities.CreateInstance<MemoryGrainStorage>(services, name, new MemoryGrainStorageOptions());
        }

        var path = SqlitePath(services, options);
        return new SqliteGrainStorage(
            path,
            options.FullSync,
            services.GetRequiredService<Serializer>(),
            services.GetRequiredService<ILogger<SqliteGrainStorage>>());
    }
}
