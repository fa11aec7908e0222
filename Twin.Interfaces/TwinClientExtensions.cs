using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Twin;

/// <summary>Connects a .NET host to a Factory Twin cluster as an Orleans client.</summary>
public static class TwinClientExtensions
{
    /// <summary>
    /// Adds an Orleans client for the Factory Twin cluster. With no further configuration it
    /// connects to a silo on this machine (localhost clustering, gateway port 30000); the
    /// section <c>Twin:Client</c> sets <c>GatewayPort</c> and <c>ClusterId</c>/<c>ServiceId</c>.
    /// Cluster hosts pass <paramref name="configureClustering"/> to choose their membership provider.
    /// </summary>
    public static IHostApplicationBuilder AddTwinClient(
        this IHostApplicationBuilder builder,
        Action<IClientBuilder>? configureClustering = null)
    {
        var section = builder.Configuration.GetSection("Twin:Client");
        var gatewayPort = section.GetValue("GatewayPort", 30000);
        var clusterId = section.GetValue("ClusterId", "factory-twin") ?? "factory-twin";
        var serviceId = section.GetValue("ServiceId", "factory-twin") ?? "factory-twin";

        builder.UseOrleansClient(client =>
        {
            // Traces continue from the caller into the grains (OpenTelemetry, if the host collects them).
            client.AddActivityPropagation();
            if (configureClustering is null)
            {
                client.UseLocalhostClustering(gatewayPort, serviceId, clusterId);
            }
            else
            {
                configureClustering(client);
            }
        });
        return builder;
    }
}
