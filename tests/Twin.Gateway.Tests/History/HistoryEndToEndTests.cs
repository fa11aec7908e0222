using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Twin.Testing;

namespace Twin.Gateway.Tests.History;

/// <summary>The embedded gateway (SQLite, built-in broker) as a real process, for history tests.</summary>
public sealed class HistoryGatewayFixture : IAsyncLifetime
{
    private readonly TempDirectory _temp = new();

    public GatewayProcess Gateway { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Gateway = new GatewayProcess(_temp.Sub("data"));
        await Gateway.StartAsync();
    }

    public async Task DisposeAsync()
    {
        await Gateway.DisposeAsync();
        _temp.Dispose();
    }
}

/// <summary>
/// Readings published over MQTT — new, reordered, duplicated, implausible and malformed — come back
/// from the history endpoint exactly as the machine twin accepted them.
/// </summary>
public sealed class HistoryEndToEndTests(HistoryGatewayFixture fixture) : IClassFixture<HistoryGatewayFixture>
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(20);
    private readonly string _factory = "hist-" + Guid.NewGuid().ToString("N")[..8];
    private GatewayProcess Gateway => fixture.Gateway;

    [Fact]
    public async Task History_returns_exactly_the_readings_the_twin_accepted_with_their_quality_and_anomaly_scores()
    {
        var scenario = await PublishScenarioAsync("press-1");

        var snapshot = (await Gateway.GetJsonAsync($"/api/factories/{_factory}/machines/press-1"))!.Value;
        var ingest = snapshot.GetProperty("ingest");
        var accepted = ingest.GetProperty("applied").GetInt64() + ingest.GetProperty("late").GetInt64();
        Assert.Equal(scenario.Count, accepted);
        Assert.Equal(2, ingest.GetProperty("duplicates").GetInt64());

        foreach (var sensor in new[] { "temperature", "vibration" })
        {
            var history = await HistoryAsync("press-1", sensor, scenario.Base);
            var points = history.GetProperty("points").EnumerateArray().ToList();
            Assert.False(history.GetProperty("truncated").GetBoolean());
            Assert.Equal(JsonValueKind.Null, history.GetProperty("step").ValueKind);
            Assert.Equal(JsonValueKind.Null, history.GetProperty("buckets").ValueKind);
            Assert.Equal(accepted, points.Count);

            // In event-time order, one per accepted message, with the published value and quality.
            var expected = scenario.OrderBy(r => r.Time).ToList();
            Assert.Equal(expected.Select(r => r.Time), points.Select(p => p.GetProperty("time").GetDateTimeOffset()));
            Assert.Equal(expected.Select(r => r.Value(sensor)), points.Select(p => p.GetProperty("value").GetDouble()));
            Assert.Equal(expected.Select(r => sensor == "temperature" && r.Bad ? "bad" : "good"), points.Select(p => p.GetProperty("quality").GetString()));

            // Scores: the temperature limit (28) makes the readings above it anomalous; an implausible reading scores 0.
            foreach (var (reading, point) in expected.Zip(points))
            {
                var score = point.GetProperty("anomalyScore").GetDouble();
                if (sensor == "temperature" && !reading.Bad && reading.Temperature > 28)
                {
                    Assert.InRange(score, 0.5, 1);
                }
                else if (sensor == "temperature")
                {
                    Assert.Equal(0, score);
                }
            }

            // The newest point is the twin's latest value, with the same quality and score.
            var latest = snapshot.GetProperty("sensors").EnumerateArray().Single(s => s.GetProperty("sensor").GetString() == sensor);
            Assert.Equal(latest.GetProperty("value").GetDouble(), points[^1].GetProperty("value").GetDouble());
            Assert.Equal(latest.GetProperty("quality").GetString(), points[^1].GetProperty("quality").GetString());
            Assert.Equal(latest.GetProperty("anomalyScore").GetDouble(), points[^1].GetProperty("anomalyScore").GetDouble());
            Assert.Equal(latest.GetProperty("timestamp").GetDateTimeOffset(), points[^1].GetProperty("time").GetDateTimeOffset());
        }

        var dataDirectory = Gateway.DataDirectory;
        Assert.True(File.Exists(Path.Combine(dataDirectory, "history.db")), "the history is kept beside the twin state, in history.db");
    }

    [Fact]
    public async Task Aggregated_history_has_count_min_max_and_avg_of_the_good_readings_per_step()
    {
        var scenario = await PublishScenarioAsync("lathe-1");
        await HistoryAsync("lathe-1", "temperature", scenario.Base);

        foreach (var (step, minutes) in new[] { ("1m", 1L), ("5m", 5L), ("00:02:00", 2L), ("1h", 60L) })
        {
            var history = await Gateway.GetJsonAsync(Url("lathe-1", "temperature", scenario.Base) + "&step=" + step);
            Assert.Equal(TimeSpan.FromMinutes(minutes), TimeSpan.Parse(history!.Value.GetProperty("step").GetString()!, CultureInfo.InvariantCulture));
            Assert.Equal(JsonValueKind.Null, history.Value.GetProperty("points").ValueKind);
            var buckets = history.Value.GetProperty("buckets").EnumerateArray().ToList();

            var expected = scenario.Where(r => !r.Bad)
                .GroupBy(r => Floor(r.Time, minutes))
                .OrderBy(g => g.Key)
                .ToList();
            Assert.Equal(expected.Select(g => g.Key), buckets.Select(b => b.GetProperty("time").GetDateTimeOffset()));
            Assert.Equal(expected.Select(g => (long)g.Count()), buckets.Select(b => b.GetProperty("count").GetInt64()));
            Assert.Equal(expected.Select(g => g.Min(r => r.Temperature)), buckets.Select(b => b.GetProperty("min").GetDouble()));
            Assert.Equal(expected.Select(g => g.Max(r => r.Temperature)), buckets.Select(b => b.GetProperty("max").GetDouble()));
            foreach (var (group, bucket) in expected.Zip(buckets))
            {
                Assert.Equal(group.Average(r => r.Temperature), bucket.GetProperty("avg").GetDouble(), 9);
            }
        }

        // Per minute: four good readings in each of the first three minutes; the implausible one in the fourth is left out.
        var perMinute = (await Gateway.GetJsonAsync(Url("lathe-1", "temperature", scenario.Base) + "&step=1m"))!.Value.GetProperty("buckets");
        Assert.Equal([4L, 4L, 4L], perMinute.EnumerateArray().Select(b => b.GetProperty("count").GetInt64()));
        Assert.Equal([22.5, 26.5, 30.5], perMinute.EnumerateArray().Select(b => b.GetProperty("avg").GetDouble()));
    }

    [Fact]
    public async Task Bad_queries_answer_400_naming_the_parameter_and_an_unknown_sensor_has_no_points()
    {
        var scenario = await PublishScenarioAsync("mill-1");
        await HistoryAsync("mill-1", "temperature", scenario.Base);
        var machine = $"/api/factories/{_factory}/machines/mill-1/history";

        await AssertBadAsync($"{machine}", "sensor");
        await AssertBadAsync($"{machine}?sensor=temp%20C", "sensor");
        await AssertBadAsync($"{machine}?sensor=temperature&from=2026-11-26T09:00:00Z&to=2026-11-26T08:00:00Z", "from");
        await AssertBadAsync($"{machine}?sensor=temperature&from=yesterday", "from");
        await AssertBadAsync($"{machine}?sensor=temperature&to=2026-13-01", "to");
        await AssertBadAsync($"{machine}?sensor=temperature&step=30s", "step");
        await AssertBadAsync($"{machine}?sensor=temperature&step=fast", "step");
        await AssertBadAsync($"{machine}?sensor=temperature&limit=0", "limit");
        await AssertBadAsync($"{machine}?sensor=temperature&limit=100001", "limit");
        await AssertBadAsync($"/api/factories/{_factory}/machines/m$1/history?sensor=temperature", "machine");

        var unknown = await Gateway.GetJsonAsync(Url("mill-1", "pressure", scenario.Base));
        Assert.Equal(0, unknown!.Value.GetProperty("points").GetArrayLength());
        var aggregated = await Gateway.GetJsonAsync(Url("mill-1", "pressure", scenario.Base) + "&step=5m");
        Assert.Equal(0, aggregated!.Value.GetProperty("buckets").GetArrayLength());

        var limited = await Gateway.GetJsonAsync(Url("mill-1", "temperature", scenario.Base) + "&limit=5");
        Assert.True(limited!.Value.GetProperty("truncated").GetBoolean());
        Assert.Equal(5, limited.Value.GetProperty("points").GetArrayLength());

        // Without from and to: the last hour up to now, which holds every reading of the scenario.
        var lastHour = await Gateway.GetJsonAsync($"{machine}?sensor=temperature");
        Assert.Equal(scenario.Count, lastHour!.Value.GetProperty("points").GetArrayLength());
        var from = lastHour.Value.GetProperty("from").GetDateTimeOffset();
        var to = lastHour.Value.GetProperty("to").GetDateTimeOffset();
        Assert.Equal(TimeSpan.FromHours(1), to - from);
        Assert.InRange(to, DateTimeOffset.UtcNow.AddMinutes(-1), DateTimeOffset.UtcNow.AddMinutes(1));
    }

    private async Task AssertBadAsync(string url, string field)
    {
        using var response = await Gateway.Http.GetAsync(url);
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var problem = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.True(problem.GetProperty("errors").TryGetProperty(field, out _), $"{url}: {problem}");
    }

    /// <summary>
    /// Sets a temperature limit of 28, then publishes seq 1–12 every 15 s from a whole minute (temperature
    /// 20 + n, vibration 1 + n/10) with 12 before 11 (late) and 3 and 7 twice (duplicates), then seq 13
    /// with an implausible temperature (9999: quality bad), a malformed message and a non-numeric value.
    /// Returns the accepted readings once the twin holds all of them and the history has them.
    /// </summary>
    private async Task<Scenario> PublishScenarioAsync(string machine)
    {
        var put = await Gateway.Http.PutAsJsonAsync($"/api/factories/{_factory}/machines/{machine}", new { sensors = new { temperature = new { high = 28 } } });
        Assert.Equal(HttpStatusCode.OK, put.StatusCode);

        var now = DateTimeOffset.UtcNow;
        var start = new DateTimeOffset(now.Year, now.Month, now.Day, now.Hour, now.Minute, 0, TimeSpan.Zero).AddMinutes(-5);
        var scenario = new Scenario(start);
        for (var n = 1; n <= 12; n++)
        {
            scenario.Add(new Reading(n, start.AddSeconds(15 * (n - 1)), 20 + n, 1 + (n / 10.0), Bad: false));
        }

        scenario.Add(new Reading(13, start.AddMinutes(3), 9999, 2.5, Bad: true));

        var topic = $"factory/{_factory}/machine/{machine}/telemetry";
        await using var device = await TestDevice.ConnectAsync(Gateway.MqttPort);
        int[] order = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 3, 7, 12, 11, 13];
        foreach (var seq in order)
        {
            await device.PublishAsync(topic, scenario.Single(r => r.Seq == seq).Payload);
        }

        await device.PublishAsync(topic, "{\"seq\": 14,");
        await device.PublishAsync(topic, $"{{\"seq\":15,\"ts\":\"{start.AddMinutes(3):O}\",\"values\":{{\"temperature\":\"hot\"}}}}");

        await Wait.UntilAsync(
            async () => await Gateway.GetJsonAsync($"/api/factories/{_factory}/machines/{machine}") is { } s
                && s.GetProperty("ingest").GetProperty("applied").GetInt64() + s.GetProperty("ingest").GetProperty("late").GetInt64() == scenario.Count
                && s.GetProperty("ingest").GetProperty("duplicates").GetInt64() == 2,
            Deadline,
            "the twin accepted the scenario");
        await Wait.UntilAsync(
            async () => await Gateway.GetJsonAsync($"/api/factories/{_factory}/dead-letters") is { } d && d.GetProperty("items").GetArrayLength() >= 2,
            Deadline,
            "the malformed messages are dead letters");
        foreach (var sensor in new[] { "temperature", "vibration" })
        {
            await Wait.UntilAsync(
                async () => await Gateway.GetJsonAsync(Url(machine, sensor, start)) is { } h && h.GetProperty("points").GetArrayLength() >= scenario.Count,
                Deadline,
                $"the history of {sensor} holds the scenario");
        }

        return scenario;
    }

    private async Task<JsonElement> HistoryAsync(string machine, string sensor, DateTimeOffset start) =>
        (await Gateway.GetJsonAsync(Url(machine, sensor, start)))!.Value;

    private string Url(string machine, string sensor, DateTimeOffset start) =>
        $"/api/factories/{_factory}/machines/{machine}/history?sensor={sensor}&from={Uri.EscapeDataString(start.AddMinutes(-1).ToString("O", CultureInfo.InvariantCulture))}&to={Uri.EscapeDataString(start.AddMinutes(10).ToString("O", CultureInfo.InvariantCulture))}";

    private static DateTimeOffset Floor(DateTimeOffset time, long minutes)
    {
        var total = (long)Math.Floor((time - DateTimeOffset.UnixEpoch).TotalMinutes);
        return DateTimeOffset.UnixEpoch.AddMinutes(total / minutes * minutes);
    }

    private sealed record Reading(long Seq, DateTimeOffset Time, double Temperature, double Vibration, bool Bad)
    {
        public string Payload => string.Create(CultureInfo.InvariantCulture,
            $"{{\"seq\":{Seq},\"ts\":\"{Time:yyyy-MM-dd'T'HH:mm:ss.fff'Z'}\",\"values\":{{\"temperature\":{Temperature},\"vibration\":{Vibration}}}}}");

        public double Value(string sensor) => sensor == "temperature" ? Temperature : Vibration;
    }

    private sealed class Scenario(DateTimeOffset start) : List<Reading>
    {
        public DateTimeOffset Base { get; } = start;
    }
}
