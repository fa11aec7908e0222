using Twin.Ingestion;
using Twin.Ingestion.Uns;
using Twin.Machines;

namespace Twin.Gateway.Tests.Ingestion;

/// <summary>Unified Namespace topic templates and payload shapes, without a broker.</summary>
public sealed class UnsRouterTests
{
    private static readonly DateTimeOffset Now = new(2026, 12, 1, 8, 0, 0, TimeSpan.Zero);

    private static UnsRouter Router(params (string Factory, TopicTemplate Template)[] templates)
    {
        var profiles = new ProfilesOptions();
        foreach (var (factory, template) in templates)
        {
            if (!profiles.TryGetValue(factory, out var profile))
            {
                profiles[factory] = profile = new MappingProfile();
            }

            profile.Topics.Add(template);
        }

        return new UnsRouter(profiles, new PayloadLimits(), Now.AddHours(-1));
    }

    private static UnsOutcome Route(UnsRouter router, string topic, string payload)
    {
        var bytes = System.Text.Encoding.UTF8.GetBytes(payload);
        Assert.True(router.TryRoute(topic, bytes, bytes.Length, Now, out var outcome), $"{topic} matched no template");
        return outcome;
    }

    [Fact]
    public void A_value_per_tag_under_an_isa95_path_names_factory_line_machine_and_sensor()
    {
        var router = Router(("plant-a", new TopicTemplate { Topic = "acme/{site}/{area}/{line}/{machine}/{tag}" }));
        Assert.Equal(["acme/+/+/+/+/#"], router.Filters);
        var outcome = Route(router, "acme/berlin/body/line-3/press-7/hydraulics/Oil Temp", "71.5");
        Assert.Equal(("plant-a", "press-7", "line-3"), (outcome.Factory, outcome.Machine, outcome.Line));
        var message = Assert.IsType<TelemetryMessage>(outcome.Message);
        Assert.Equal(new SensorReading("hydraulics.Oil_Temp", 71.5, null), Assert.Single(message.Readings));
        Assert.Equal(Now, message.Timestamp);
        Assert.Equal(UnsRouter.Source, message.Source);
    }

    [Fact]
    public void Umh_historian_topics_without_a_tag_level_give_the_payloads_tags_as_they_are()
    {
        var router = Router(("default", new TopicTemplate
        {
            Topic = "umh/v1/{factory}/{site}/{area}/{line}/{machine}/_historian/{tag}",
            Payload = UnsPayloadShape.Tags,
            TimestampField = "timestamp_ms",
        }));
        var outcome = Route(router, "umh/v1/pb/berlin/body/l1/m1/_historian", """{"timestamp_ms": 1764576000000, "temperature": 23.5, "pressure": 1.25}""");
        Assert.Equal(("pb", "m1", "l1"), (outcome.Factory, outcome.Machine, outcome.Line));
        var message = Assert.IsType<TelemetryMessage>(outcome.Message);
        Assert.Equal(["temperature", "pressure"], message.Readings.Select(r => r.Sensor));

        // A value per topic still needs its tag level.
        var values = Router(("plant-a", new TopicTemplate { Topic = "acme/{machine}/{tag}" }));
        Assert.False(values.TryRoute("acme/m1", "1"u8, 1, Now, out _));
    }

    [Fact]
    public void A_topic_under_a_templates_subscription_but_not_its_shape_names_the_template()
    {
        var router = Router(
            ("plant-a", new TopicTemplate { Topic = "acme/{site}/{area}/{line}/{machine}/{tag}" }),
            ("default", new TopicTemplate { Topic = "umh/v1/{factory}/{machine}/{tag}" }));
        Assert.False(router.TryRoute("acme/x/y/l/m", "1"u8, 1, Now, out _));
        Assert.True(router.TryExplain("acme/x/y/l/m", out var factory, out var reason));
        Assert.Equal("plant-a", factory);
        Assert.Equal("topic.template: the topic is under acme/+/+/+/+/#, the subscription of the profile of plant-a's template acme/{site}/{area}/{line}/{machine}/{tag}, but not the template's: it has 5 levels, the template at least 6", reason);

        // The default profile's template: its factory is in the topic, which did not match.
        Assert.True(router.TryExplain("umh/v1/plant-b/m1", out factory, out reason));
        Assert.Equal(IngestPipeline.UnroutedFactory, factory);
        Assert.Contains("the default profile's template umh/v1/{factory}/{machine}/{tag}", reason, StringComparison.Ordinal);
        Assert.EndsWith("it has 4 levels, the template at least 5", reason, StringComparison.Ordinal);

        Assert.False(router.TryExplain("elsewhere/a/b", out _, out _));
        Assert.False(router.TryExplain("acme/x/y/l/m/t", out _, out _));
    }

    [Fact]
    public void Umh_historian_tag_objects_take_their_timestamp_and_the_factory_from_the_topic()
    {
        var router = Router(("default", new TopicTemplate
        {
            Topic = "umh/v1/{factory}/{site}/{area}/{line}/{machine}/_historian/{tag}",
            Payload = UnsPayloadShape.Tags,
            TimestampField = "timestamp_ms",
        }));
        var outcome = Route(router, "umh/v1/plant-b/site/area/line-1/mill-2/_historian/spindle", """{"timestamp_ms": 1764576000000, "speed": 1200, "load": 0.75, "note": "ok"}""");
        Assert.Equal(("plant-b", "mill-2", "line-1"), (outcome.Factory, outcome.Machine, outcome.Line));
        var message = Assert.IsType<TelemetryMessage>(outcome.Message);
        Assert.Equal(DateTimeOffset.FromUnixTimeMilliseconds(1764576000000), message.Timestamp);
        Assert.Equal([("spindle.speed", 1200.0), ("spindle.load", 0.75)], message.Readings.Select(r => (r.Sensor, r.Value)));
    }

    [Fact]
    public void A_value_with_time_and_unit_and_no_line_learning_when_the_template_says_so()
    {
        var router = Router(("plant-c", new TopicTemplate { Topic = "plant/{line}/{machine}/{tag}", Payload = UnsPayloadShape.ValueTimestamp, LearnLine = false }));
        var outcome = Route(router, "plant/l1/oven-1/temperature", """{"value": 212, "timestamp": "2026-12-01T07:59:00Z", "unit": "degF"}""");
        Assert.Null(outcome.Line);
        var message = Assert.IsType<TelemetryMessage>(outcome.Message);
        Assert.Equal(new SensorReading("temperature", 212, "degF"), Assert.Single(message.Readings));
        Assert.Equal(Now.AddMinutes(-1), message.Timestamp);
    }

    [Fact]
    public void Numbers_rise_per_message_and_start_from_the_gateways_start_time()
    {
        var router = Router(("plant-a", new TopicTemplate { Topic = "a/{machine}/{tag}" }));
        var first = Route(router, "a/m1/t", "1").Message!.Seq;
        var second = Route(router, "a/m1/t", "1").Message!.Seq;
        Assert.True(second > first);
        Assert.True(first > Now.AddHours(-1).ToUnixTimeMilliseconds() << 20);
    }

    [Theory]
    [InlineData("a/m1/t", "hot", "payload.malformed")]
    [InlineData("a/m1/t", "\"hot\"", "values.not-number")]
    [InlineData("a/m 1/t", "1", "topic.machine")]
    [InlineData("b/m1/t", "{}", "values.missing")]
    [InlineData("b/m1/t", "[1]", "payload.not-object")]
    [InlineData("b/m1/t", "{\"timestamp\": \"soon\", \"x\": 1}", "ts.invalid")]
    [InlineData("b/m1/t", "{\"timestamp\": \"2030-01-01T00:00:00Z\", \"x\": 1}", "ts.future")]
    public void Bad_topics_and_payloads_are_refused_with_the_reason(string topic, string payload, string reason)
    {
        var router = Router(("plant-a", new TopicTemplate { Topic = "a/{machine}/{tag}" }), ("plant-a", new TopicTemplate { Topic = "b/{machine}/{tag}", Payload = UnsPayloadShape.Tags }));
        Assert.Equal(reason, Twin.DeadLetters.DeadLetter.ReasonCodeOf(Route(router, topic, payload).Rejection!));
    }

    [Fact]
    public void A_payload_nested_past_the_limit_is_too_deep_not_malformed()
    {
        var router = Router(("plant-a", new TopicTemplate { Topic = "b/{machine}/{tag}", Payload = UnsPayloadShape.Tags }));
        var deep = string.Concat(Enumerable.Repeat("[", PayloadLimits.MaxJsonDepth + 1)) + new string(']', PayloadLimits.MaxJsonDepth + 1);
        Assert.Equal("payload.too-deep", Twin.DeadLetters.DeadLetter.ReasonCodeOf(Route(router, "b/m1/t", $$"""{"vendor": {{deep}}, "x": 1}""").Rejection!));
    }

    [Fact]
    public void Topics_no_template_names_are_not_taken()
    {
        var router = Router(("plant-a", new TopicTemplate { Topic = "a/{machine}/{tag}" }));
        Assert.False(router.TryRoute("other/m1/t", [], 0, Now, out _));
        Assert.False(router.TryRoute("a/m1", [], 0, Now, out _));
    }

    [Theory]
    [InlineData("a/{tag}/{machine}", false, "{tag} must be the last level")]
    [InlineData("a/{line}/b", false, "needs {machine}")]
    [InlineData("a/x{machine}/{tag}", false, "mixes text")]
    [InlineData("a/{machine}/{tag}", true, "needs {factory}")]
    [InlineData("spBv1.0/{machine}/{tag}", false, "Sparkplug or JSON contract")]
    [InlineData("factory/{factory}/machine/{machine}/{tag}", true, "Sparkplug or JSON contract")]
    [InlineData("factory/{factory}/{kind}/{machine}/{tag}", true, "Sparkplug or JSON contract")]
    public void Templates_that_cannot_work_are_refused_naming_the_setting(string topic, bool defaultProfile, string error)
    {
        var errors = new TopicTemplate { Topic = topic }.Validate("Twin:Profiles:x:Topics:0", defaultProfile);
        Assert.Contains(errors, e => e.StartsWith("Twin:Profiles:x:Topics:0", StringComparison.Ordinal) && e.Contains(error, StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("factory/{factory}/uns/{machine}/{tag}")]
    [InlineData("factory/{factory}/area/cell/{machine}/{tag}")]
    [InlineData("{site}/{factory}/machine/{machine}/{tag}")]
    public void Templates_that_cannot_take_contract_topics_are_accepted(string topic)
    {
        Assert.Empty(new TopicTemplate { Topic = topic }.Validate("Twin:Profiles:x:Topics:0", defaultProfile: true));
    }

    [Fact]
    public void A_template_beginning_with_a_placeholder_never_takes_the_contracts_topics()
    {
        var router = Router(("default", new TopicTemplate { Topic = "{site}/{factory}/machine/{machine}/{tag}" }));
        Assert.Equal(["+/+/machine/+/#"], router.Filters);
        Assert.Equal("m1", Route(router, "acme/plant-a/machine/m1/level", "5").Machine);

        // A contract topic of an unknown kind stays the contract's dead letter (topic.kind), and no template explains it.
        Assert.False(router.TryRoute("factory/plant-a/machine/m1/level", [], 0, Now, out _));
        Assert.False(router.TryExplain("factory/plant-a/machine/m1", out _, out _));
        Assert.False(MachineTopic.TryParse("factory/plant-a/machine/m1/level", out _, out var error));
        Assert.StartsWith("topic.kind", error, StringComparison.Ordinal);
    }
}
