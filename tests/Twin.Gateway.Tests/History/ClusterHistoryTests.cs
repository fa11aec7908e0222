using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using Twin.Gateway.Tests.Cluster;
using Twin.Testing;
using Twin.Silo.Storage;

namespace Twin.Gateway.Tests.History;

/// <summary>
/// Cluster mode: a silo writes the history to PostgreSQL; a client-mode gateway, which holds no
/// twins, serves it by reading the database.
/// </summary>
public sealed class ClusterHistoryTests(PostgresServerFixture postgres) : IClassFixture<PostgresServerFixture>, IDisposable
{
    private readonly TempDirectory _temp = new();

    [Fact]
    public async Task A_client_mode_gateway_serves_the_history_a_silo_wrote_to_PostgreSQL()
    {
        var connectionString = await postgres.Server.CreateDatabaseAsync("history_cluster");
        var migrated = await SiloProcess.MigrateAsync(connectionString);
        Assert.True(PostgresSchema.RequiredVersion >= 4);
        Assert.Contains($"now at version {PostgresSchema.RequiredVersion}", migrated, StringComparison.Ordinal);

        await using var silo = new SiloProcess(connectionString);
        await silo.StartAsync();
        await using var gateway = new GatewayProcess(_temp.Sub("gateway"), new Dictionary<string, string>
        {
            ["Twin:Gateway:Mode"] = "Client",
            ["Twin:Cluster:Membership"] = "PostgreSql",
            ["Twin:Storage:ConnectionString"] = connectionString,
            ["Twin:Broker:Enabled"] = "false",
            ["Twin:Mqtt:Enabled"] = "false",
        });
        await gateway.StartAsync(TimeSpan.FromSeconds(60));

        var start = new DateTimeOffset(2026, 11, 20, 6, 0, 0, TimeSpan.Zero);
        var payloads = Enumerable.Range(1, 120).Select(n => string.Create(CultureInfo.InvariantCulture,
            $"{{\"seq\":{n},\"ts\":\"{start.AddSeconds(n - 1):O}\",\"values\":{{\"temperature\":{n},\"vibration\":{n % 3}}},\"source\":\"csv-test\"}}"));
        using (var response = await gateway.Http.PostAsync("/api/factories/plant/machines/lathe-1/telemetry", new StringContent("[" + string.Join(",", payloads) + "]", Encoding.UTF8, "application/json")))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        var range = $"from={Uri.EscapeDataString(start.ToString("O", CultureInfo.InvariantCulture))}&to={Uri.EscapeDataString(start.AddHours(1).ToString("O", CultureInfo.InvariantCulture))}";
        System.Text.Json.JsonElement raw;
        try
        {
            raw = await Wait.ForAsync(
                async () => await gateway.GetJsonAsync($"/api/factories/plant/machines/lathe-1/history?sensor=temperature&{range}") is { } h && h.GetProperty("points").GetArrayLength() == 120 ? h : (System.Text.Json.JsonElement?)null,
                TimeSpan.FromSeconds(20),
                "the backfilled readings in the history");
        }
        catch (TimeoutException ex)
        {
            throw new TimeoutException(ex.Message + "\ngateway:\n" + gateway.Output[^Math.Min(6000, gateway.Output.Length)..] + "\nsilo:\n" + silo.Output[^Math.Min(6000, silo.Output.Length)..], ex);
        }
        Assert.Equal(Enumerable.Range(1, 120).Select(n => (double)n), raw.GetProperty("points").EnumerateArray().Select(p => p.GetProperty("value").GetDouble()));

        var minutes = (await gateway.GetJsonAsync($"/api/factories/plant/machines/lathe-1/history?sensor=temperature&{range}&step=1m"))!.Value.GetProperty("buckets");
        Assert.Equal([60L, 60L], minutes.EnumerateArray().Select(b => b.GetProperty("count").GetInt64()));
        Assert.Equal([30.5, 90.5], minutes.EnumerateArray().Select(b => b.GetProperty("avg").GetDouble()));
        Assert.Equal([1.0, 61.0], minutes.EnumerateArray().Select(b => b.GetProperty("min").GetDouble()));
        Assert.Equal([60.0, 120.0], minutes.EnumerateArray().Select(b => b.GetProperty("max").GetDouble()));

        // Importing the same file again applies nothing, and the history stays as it was.
        using (var again = await gateway.Http.PostAsync("/api/factories/plant/machines/lathe-1/telemetry", new StringContent("[" + string.Join(",", payloads) + "]", Encoding.UTF8, "application/json")))
        {
            Assert.Equal(HttpStatusCode.OK, again.StatusCode);
            var result = await again.Content.ReadFromJsonAsync<System.Text.Json.JsonElement>();
            Assert.Equal(0, result.GetProperty("applied").GetInt32());
            Assert.Equal(120, result.GetProperty("duplicates").GetInt32());
        }

        var hour = (await gateway.GetJsonAsync($"/api/factories/plant/machines/lathe-1/history?sensor=vibration&{range}&step=1h"))!.Value.GetProperty("buckets");
        Assert.Equal(120, Assert.Single(hour.EnumerateArray()).GetProperty("count").GetInt64());
    }

    public void Dispose() => _temp.Dispose();
}
