using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;
using Twin.Gateway.Mqtt;
using Twin.Gateway.Uns;
using Twin.Operations;

namespace Twin.Gateway.Api;

/// <summary>Ready when a silo answers and its grain storage answers.</summary>
internal sealed class ClusterHealthCheck(IGrainFactory grains) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        try
        {
            await grains.GetGrain<IHealthGrain>("ready").PingStorageAsync().WaitAsync(TimeSpan.FromSeconds(5), cancellationToken);
            return HealthCheckResult.Healthy("A silo and its storage answer.");
        }
        catch (Exception ex)
        {
            return HealthCheckResult.Unhealthy($"The cluster or its storage does not answer: {ex.GetType().Name}");
        }
    }
}

/// <summary>Degraded (not unready: reads still work) while the MQTT consumer is not connected.</summary>
internal sealed class MqttHealthCheck(MqttIngestService consumer, IOptions<MqttOptions> options) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        if (!options.Value.Enabled)
        {
            return Task.FromResult(HealthCheckResult.Healthy("MQTT consumer disabled."));
        }

        return Task.FromResult(consumer.IsConnected
            ? HealthCheckResult.Healthy("MQTT consumer connected.")
            : HealthCheckResult.Degraded($"MQTT consumer not connected to {options.Value.Host}:{options.Value.Port}."));
    }
}

/// <summary>Degraded (not unready) while publish-back is on and not connected to its broker.</summary>
internal sealed class UnsPublishHealthCheck(IServiceProvider services) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
        Task.FromResult(services.GetService<UnsPublisher>() switch
        {
            null => HealthCheckResult.Healthy("UNS publish-back off."),
            { IsConnected: true } => HealthCheckResult.Healthy("UNS publish-back connected."),
            _ => HealthCheckResult.Degraded("UNS publish-back not connected to its broker."),
        });
}
