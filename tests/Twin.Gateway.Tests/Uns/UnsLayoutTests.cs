using System.Collections.Immutable;
using System.Text;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;
using Twin.Gateway.Mqtt;
using Twin.Gateway.Uns;
using Twin.Ingestion;
using Twin.Ingestion.Uns;
using Twin.Kpis;
using Twin.Lines;
using Twin.Machines;
using Twin.Maintenance;

namespace Twin.Gateway.Tests.Uns;

/// <summary>The publish-back topics and payloads, and the settings that keep them out of ingestion.</summary>
public sealed class UnsLayoutTests
{
    private const string Root = "twin/plant-a";
    private static readonly DateTimeOffset At = new(2026, 11, 26, 8, 0, 0, TimeSpan.Zero);

    [Fact]
    public void A_machine_gives_one_topic_per_value_with_unit_time_and_quality()
    {
        var values = Text(UnsLayout.Machine(Root, Machine()));

        Assert.Equal(
            [
                "twin/plant-a/machine/press-1/counts/good",
                "twin/plant-a/machine/press-1/counts/goodPerMinute",
                "twin/plant-a/machine/press-1/counts/scrap",
                "twin/plant-a/machine/press-1/fault/temperature/limitHigh",
                "twin/plant-a/machine/press-1/line",
                "twin/plant-a/machine/press-1/sensor/Motor.Spindle_Speed",
                "twin/plant-a/machine/press-1/sensor/temperature",
                "twin/plant-a/machine/press-1/status",
                "twin/plant-a/machine/press-1/workOrder",
            ],
            values.Keys.Order(StringComparer.Ordinal));
        Assert.Equal("""{"value":71.3,"unit":"degC","ts":"2026-11-26T08:00:00.000Z","quality":"good"}""", values["twin/plant-a/machine/press-1/sensor/temperature"]);
        Assert.Equal("""{"value":1200,"unit":null,"ts":"2026-11-26T08:00:00.000Z","quality":"uncertain"}""", values["twin/plant-a/machine/press-1/sensor/Motor.Spindle_Speed"]);
        Assert.Equal("""{"value":"running","ts":"2026-11-26T07:00:00.000Z"}""", values["twin/plant-a/machine/press-1/status"]);
        Assert.Equal("""{"value":42}""", values["twin/plant-a/machine/press-1/counts/good"]);
        Assert.Equal("""{"value":"WO-1001"}""", values["twin/plant-a/machine/press-1/workOrder"]);
        Assert.Equal("""{"sensor":"temperature","kind":"limitHigh","since":"2026-11-26T07:59:00.000Z","value":95}""", values["twin/plant-a/machine/press-1/fault/temperature/limitHigh"]);

        // No work order, no line, no fault: those topics are not given (so the publisher clears them).
        var idle = Text(UnsLayout.Machine(Root, Machine() with { CurrentWorkOrder = null, Line = null, ActiveFaults = [] }));
        Assert.DoesNotContain(idle.Keys, t => t.EndsWith("/workOrder", StringComparison.Ordinal) || t.EndsWith("/line", StringComparison.Ordinal) || t.Contains("/fault/", StringComparison.Ordinal));
    }

    [Fact]
    public void Open_tickets_are_published_and_resolved_ones_are_not()
    {
        var values = Text(UnsLayout.MachineTickets(Root, "press-1", [Ticket(1, TicketStatus.Resolved), Ticket(2, TicketStatus.Acknowledged)]));

        var (topic, payload) = Assert.Single(values);
        Assert.Equal("twin/plant-a/machine/press-1/ticket/press-1.LimitHigh.2", topic);
        Assert.Equal("""{"id":"press-1.LimitHigh.2","kind":"limitHigh","status":"acknowledged","openedAt":"2026-11-26T08:00:00.000Z","escalations":0}""", payload);
    }

    [Fact]
    public void Every_topic_the_layout_gives_has_its_shape()
    {
        var oee = new MachineOee("plant-a", "press-1", null, [new OeeFigures("shift", At.AddHours(-1), At, 3600, 3000, 300, 300, 100, 2, 0.83, 0.9, 0.98, 0.73)]);
        var line = new LineSnapshot("plant-a", "line-1", 3, "Line 1", LineStatus.Running, 10.5, 100, 2, [new MachineSummary("press-1", 1, MachineStatus.Running, At, 100, 2, 10.5, 2, "line-1")]);
        var kpis = new FactoryKpiSnapshot("plant-a", At, [new LineKpiReport("line-1", 1, "8h", 0.7, 0.8, 0.9, 0.97, "press-1", At)], 1, new OpenTicketAges(1, 0, 0, 0), 12, null,
            [new BinCoverage("bin-1", "steel", 40, 10, 4)], [new WorkOrderKpi("WO-1", 1, "panel", At, 0.5, Twin.WorkOrders.WorkOrderStatus.InProgress)]);
        var all = new[]
        {
            UnsLayout.Machine(Root, Machine()),
            UnsLayout.MachineOee(Root, oee, []),
            UnsLayout.MachineTickets(Root, "press-1", [Ticket(1, TicketStatus.Open)]),
            UnsLayout.Line(Root, line),
            UnsLayout.LineKpi(Root, kpis.Lines[0]),
            UnsLayout.FactoryKpis(Root, kpis),
        }.SelectMany(v => v.Keys).ToList();

        Assert.Equal(5 + 5 + 9, all.Count(t => !t.Contains("/machine/", StringComparison.Ordinal)));
        foreach (var topic in all)
        {
            Assert.StartsWith(Root + "/", topic, StringComparison.Ordinal);
            Assert.Contains(UnsLayout.Shapes, shape => UnsLayout.CouldMatch(shape, topic[(Root.Length + 1)..]));
        }

        Assert.Equal("""{"value":0.73}""", Text(UnsLayout.MachineOee(Root, oee, ["shift"]))["twin/plant-a/machine/press-1/oee/shift/oee"]);
        Assert.Empty(UnsLayout.MachineOee(Root, oee, ["24h"]));
        Assert.Equal("""{"value":["press-1"]}""", Text(UnsLayout.Line(Root, line))["twin/plant-a/line/line-1/machines"]);
        Assert.Equal("""{"value":null,"unit":"h"}""", Text(UnsLayout.FactoryKpis(Root, kpis))["twin/plant-a/kpi/mtbfHours"]);
    }

    [Fact]
    public void Oee_inputs_are_published_again_when_their_values_change_not_when_the_window_moves()
    {
        var picture = new UnsPicture(100, TimeSpan.FromMilliseconds(1));
        const string inputs = "twin/plant-a/machine/press-1/oee/1h/inputs";
        MachineOee Read(DateTimeOffset to, long good) => new("plant-a", "press-1", null, [new OeeFigures("1h", to.AddHours(-1), to, 3600, 3600, 0, 0, good, 0, 1, 1, 1, 1)]);
        int Pending(long now)
        {
            var sent = 0;
            while (picture.TryTake(now, out var topic, out var payload, out _))
            {
                picture.Sent(topic, payload);
                sent++;
            }

            return sent;
        }

        picture.Replace("oee", UnsLayout.MachineOee(Root, Read(At, 100), [], picture.Get), 0);
        Assert.Equal(5, Pending(5));
        var first = Encoding.UTF8.GetString(picture.Get(inputs)!);

        // Every KpiInterval the rolling window ends later: same figures, nothing sent, the payload kept.
        picture.Replace("oee", UnsLayout.MachineOee(Root, Read(At.AddSeconds(10), 100), [], picture.Get), 10);
        Assert.Equal(0, Pending(15));
        Assert.Equal(first, Encoding.UTF8.GetString(picture.Get(inputs)!));

        // A count changed: sent, with the window it was read over.
        picture.Replace("oee", UnsLayout.MachineOee(Root, Read(At.AddSeconds(20), 101), [], picture.Get), 20);
        Assert.Equal(1, Pending(25));
        Assert.Contains("\"good\":101", Encoding.UTF8.GetString(picture.Get(inputs)!), StringComparison.Ordinal);
        Assert.Contains($"\"to\":\"{At.AddSeconds(20):yyyy-MM-dd'T'HH:mm:ss.fff'Z'}\"", Encoding.UTF8.GetString(picture.Get(inputs)!), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("press-1", "press-1")]
    [InlineData("Motor.Spindle_Speed", "Motor.Spindle_Speed")]
    [InlineData("a/b+c#d", "a_b_c_d")]
    [InlineData("$SYS", "_SYS")]
    [InlineData("", "_")]
    public void Ids_become_topic_levels_unchanged_or_with_underscores(string id, string level) =>
        Assert.Equal(level, UnsLayout.Level(id));

    [Fact]
    public void The_defaults_are_valid_and_publish_back_is_off()
    {
        var options = new UnsPublishOptions();

        Assert.False(options.Enabled);
        Assert.Equal("twin/plant-a", options.RootOf("plant-a").Root);
        Assert.True(Validate(options).Succeeded);
    }

    [Theory]
    [InlineData("Qos", "3", "Twin:Uns:Publish:Qos")]
    [InlineData("MaxPublishesPerSecond", "0", "Twin:Uns:Publish:MaxPublishesPerSecond")]
    [InlineData("KpiInterval", "00:00:00.500", "Twin:Uns:Publish:KpiInterval")]
    [InlineData("Root", "twin/+/{factory}", "Twin:Uns:Publish:Root")]
    [InlineData("Root", "$twin/{factory}", "Twin:Uns:Publish:Root")]
    [InlineData("Root", "twin//{factory}", "Twin:Uns:Publish:Root")]
    [InlineData("Root", "twin/{site}/{factory}", "Twin:Uns:Publish:Root")]
    [InlineData("Root", "factory/{factory}", "the MQTT contract")]
    [InlineData("Root", "spBv1.0/{factory}", "Sparkplug B")]
    [InlineData("Root", "twin", "overlaps")]
    [InlineData("OeeWindows:0", "2h", "Twin:Uns:Publish:OeeWindows:0")]
    [InlineData("Factories:1", "a/b", "Twin:Uns:Publish:Factories:1")]
    public void A_bad_setting_is_refused_naming_it(string setting, string value, string expected)
    {
        var configuration = new Dictionary<string, string?>
        {
            ["Enabled"] = "true",
            ["Factories:0"] = "plant-a",
            ["Factories:1"] = "plant-b",
            [setting] = value,
        };
        var options = new ConfigurationBuilder().AddInMemoryCollection(configuration).Build().Get<UnsPublishOptions>()!;

        var result = Validate(options);
        Assert.True(result.Failed);
        Assert.Contains(expected, result.FailureMessage, StringComparison.Ordinal);
    }

    [Fact]
    public void Publish_back_needs_its_factories()
    {
        var result = Validate(new UnsPublishOptions { Enabled = true });

        Assert.Contains("Twin:Uns:Publish:Factories is empty", result.FailureMessage, StringComparison.Ordinal);
    }

    [Fact]
    public void A_root_that_an_ingest_template_would_take_is_refused_naming_both()
    {
        var profiles = new ProfilesOptions
        {
            ["plant-a"] = new MappingProfile { Topics = [new TopicTemplate { Topic = "acme/{site}/{area}/{line}/{machine}/{tag}" }] },
            ["default"] = new MappingProfile { Topics = [new TopicTemplate { Topic = "umh/v1/{factory}/{site}/{area}/{line}/{machine}/_historian/{tag}", Payload = UnsPayloadShape.Tags }] },
        };
        UnsPublishOptions Publish(string root) => new() { Enabled = true, Factories = ["plant-a"], Roots = { ["plant-a"] = root } };

        var inside = Validate(Publish("acme/berlin/{factory}"), profiles);
        Assert.Contains("Twin:Uns:Publish:Roots:plant-a", inside.FailureMessage, StringComparison.Ordinal);
        Assert.Contains("Twin:Profiles:plant-a:Topics:0", inside.FailureMessage, StringComparison.Ordinal);

        // A sibling namespace, or one the template's literal levels rule out, is fine.
        Assert.True(Validate(Publish("acme-twin/berlin/{factory}"), profiles).Succeeded);
        Assert.True(Validate(Publish("umh/v2/{factory}"), profiles).Succeeded);

        // Under the default profile's template, a sensor named "_historian" would be taken in: refused too.
        Assert.Contains("Twin:Profiles:default:Topics:0", Validate(Publish("umh/v1/plant-a/twin"), profiles).FailureMessage, StringComparison.Ordinal);
    }

    [Fact]
    public void A_device_reads_its_own_factorys_subtree_and_never_writes_it()
    {
        var publish = new UnsPublishOptions { Enabled = true, Factories = ["plant-a", "plant-b"] };
        var device = new DeviceCredential { Username = "scada", Factory = "plant-a", Machines = ["press-1"] };

        Assert.True(EmbeddedBroker.MayReadPublished(device, "twin/plant-a/#", EmbeddedBroker.Access.Subscribe, publish));
        Assert.True(EmbeddedBroker.MayReadPublished(device, "twin/plant-a/machine/press-9/status", EmbeddedBroker.Access.Receive, publish));
        Assert.False(EmbeddedBroker.MayReadPublished(device, "twin/plant-a/machine/press-1/status", EmbeddedBroker.Access.Publish, publish));
        Assert.False(EmbeddedBroker.MayReadPublished(device, "twin/#", EmbeddedBroker.Access.Subscribe, publish));
        Assert.False(EmbeddedBroker.MayReadPublished(device, "twin/plant-b/kpi/openTickets", EmbeddedBroker.Access.Receive, publish));
        Assert.False(EmbeddedBroker.MayReadPublished(device, "twin/plant-a/kpi/openTickets", EmbeddedBroker.Access.Receive, new UnsPublishOptions { Factories = ["plant-a"] }));
    }

    private static ValidateOptionsResult Validate(UnsPublishOptions options, ProfilesOptions? profiles = null)
    {
        UnsIngestFilters.Add(options, profiles ?? new ProfilesOptions());
        return new UnsPublishOptionsValidator().Validate(null, options);
    }

    private static MachineSnapshot Machine() => new(
        "plant-a",
        "press-1",
        7,
        MachineStatus.Running,
        At.AddHours(-1),
        At,
        7,
        [
            new SensorSnapshot("temperature", 71.3, "degC", At, ReadingQuality.Good, new SensorStatistics(1, 71.3, 71.3, 71.3, 0, TimeSpan.FromMinutes(1))),
            new SensorSnapshot("Motor.Spindle_Speed", 1200, null, At, ReadingQuality.Uncertain, new SensorStatistics(1, 1200, 1200, 1200, 0, TimeSpan.FromMinutes(1))),
        ],
        new PartCounts(42, 3, 1.5),
        "WO-1001",
        "line-1",
        new IngestCounters(7, 0, 0, 0, 0),
        [new ActiveFault("temperature", FaultKind.LimitHigh, At.AddMinutes(-1), 95)],
        "Press 1");

    private static Ticket Ticket(int number, TicketStatus status) =>
        new("plant-a", $"press-1.LimitHigh.{number}", "press-1", FaultKind.LimitHigh, status, At, 1, [], [], 1, 0);

    private static Dictionary<string, string> Text(Dictionary<string, byte[]> values) =>
        values.ToDictionary(v => v.Key, v => Encoding.UTF8.GetString(v.Value), StringComparer.Ordinal);
}
