using System.Text;
using Twin.Ingestion;
using Twin.Machines;

namespace Twin.Gateway.Tests.Ingestion;

public class PayloadParserTests
{
    private static readonly DateTimeOffset Now = new(2026, 11, 26, 8, 0, 0, TimeSpan.Zero);
    private static readonly PayloadLimits Limits = new();

    private static ParseResult Parse(MachineTopicKind kind, string json) => PayloadParser.Parse(kind, Encoding.UTF8.GetBytes(json), Limits, Now);

    [Fact]
    public void Parses_the_contract_telemetry_payload()
    {
        var result = Parse(MachineTopicKind.Telemetry, """{"seq": 42, "ts": "2026-11-26T08:00:00.000Z", "values": {"temperature": 71.3, "vibration": 2.1}, "units": {"temperature": "degC"}, "extra": [1, {"x": 2}]}""");
        var message = Assert.IsType<TelemetryMessage>(result.Message);
        Assert.Equal(42, message.Seq);
        Assert.Equal(Now, message.Timestamp);
        Assert.Equal(new SensorReading("temperature", 71.3, "degC"), message.Readings[0]);
        Assert.Equal(new SensorReading("vibration", 2.1, null), message.Readings[1]);
    }

    [Theory]
    [InlineData(MachineTopicKind.Telemetry, "\"values\": {\"t\": 1}")]
    [InlineData(MachineTopicKind.Status, "\"state\": \"idle\"")]
    [InlineData(MachineTopicKind.Counts, "\"good\": 1")]
    public void Skips_an_unknown_field_nested_deep(MachineTopicKind kind, string fields)
    {
        // Devices send vendor extras; a deep one must not cost the reading (INGESTION.md: unknown fields are ignored).
        var deep = string.Concat(Enumerable.Repeat("""{"x":""", PayloadLimits.MaxJsonDepth - 2)) + "1" + new string('}', PayloadLimits.MaxJsonDepth - 2);
        var result = Parse(kind, $$"""{"seq": 7, "ts": "2026-11-26T08:00:00Z", "vendor": {{deep}}, {{fields}}}""");
        Assert.True(result.Ok, result.Error);
        Assert.Equal(7, result.Message!.Seq);
    }

    [Fact]
    public void Refuses_nesting_past_the_limit_with_its_own_reason()
    {
        var deep = string.Concat(Enumerable.Repeat("[", PayloadLimits.MaxJsonDepth + 1)) + new string(']', PayloadLimits.MaxJsonDepth + 1);
        var result = Parse(MachineTopicKind.Telemetry, $$"""{"seq": 7, "ts": "2026-11-26T08:00:00Z", "values": {"t": 1}, "vendor": {{deep}}}""");
        Assert.StartsWith("payload.too-deep:", result.Error);
    }

    [Theory]
    [InlineData("\"vendor\": {0}, \"seq\": 7, \"ts\": \"2026-11-26T08:00:00Z\", \"values\": {{\"t\": 1}}")]
    [InlineData("\"seq\": 7, \"vendor\": {0}, \"ts\": \"2026-11-26T08:00:00Z\", \"values\": {{\"t\": 1}}")]
    [InlineData("\"seq\": 7, \"meta\": {{\"vendor\": {0}}}, \"ts\": \"2026-11-26T08:00:00Z\", \"values\": {{\"t\": 1}}")]
    public void Refuses_nesting_past_the_limit_as_too_deep_wherever_it_is(string fields)
    {
        // Objects this time, and before the fields that make a message: the reason must not depend on where the depth is.
        var deep = string.Concat(Enumerable.Repeat("""{"x":""", PayloadLimits.MaxJsonDepth + 1)) + "1" + new string('}', PayloadLimits.MaxJsonDepth + 1);
        var result = Parse(MachineTopicKind.Telemetry, "{" + string.Format(System.Globalization.CultureInfo.InvariantCulture, fields, deep) + "}");
        Assert.StartsWith("payload.too-deep:", result.Error);
    }

    [Theory]
    [InlineData("note")]
    [InlineData("values")]
    [InlineData("start")]
    [InlineData("bom")]
    public void Bytes_that_are_not_plain_UTF8_are_an_encoding_error_wherever_they_are(string where)
    {
        var good = Encoding.UTF8.GetBytes("""{"seq": 1, "ts": "2026-11-26T08:00:00Z", "values": {"Q": 1}, "note": "aXb"}""");
        byte[] payload = where switch
        {
            "note" => Replace(good, (byte)'X', 0xFF),
            "values" => Replace(good, (byte)'Q', 0xC3),
            "start" => [0xFF, .. good],
            _ => [0xEF, 0xBB, 0xBF, .. good],
        };

        Assert.StartsWith("payload.encoding:", PayloadParser.Parse(MachineTopicKind.Telemetry, payload, Limits, Now).Error);
        Assert.Equal(PayloadParser.Parse(MachineTopicKind.Telemetry, payload, Limits, Now).Error, PayloadLimits.EncodingError(payload));
        Assert.True(PayloadParser.Parse(MachineTopicKind.Telemetry, good, Limits, Now).Ok);
    }

    private static byte[] Replace(byte[] bytes, byte from, byte to)
    {
        var copy = bytes.ToArray();
        copy[Array.IndexOf(copy, from)] = to;
        return copy;
    }

    [Fact]
    public void A_syntax_error_before_the_depth_is_malformed_not_too_deep()
    {
        var deep = string.Concat(Enumerable.Repeat("[", PayloadLimits.MaxJsonDepth + 1)) + new string(']', PayloadLimits.MaxJsonDepth + 1);
        Assert.StartsWith("payload.malformed:", Parse(MachineTopicKind.Telemetry, $$"""{"seq": 7,, "vendor": {{deep}}}""").Error);
        Assert.True(PayloadLimits.NestsTooDeep(Encoding.UTF8.GetBytes(deep)));
        Assert.False(PayloadLimits.NestsTooDeep(Encoding.UTF8.GetBytes(deep[1..^1])));
    }

    [Fact]
    public void Parses_status_and_counts()
    {
        var status = Assert.IsType<StatusMessage>(Parse(MachineTopicKind.Status, """{"seq": 43, "ts": "2026-11-26T09:00:00+01:00", "state": "Down"}""").Message);
        Assert.Equal(MachineRunState.Down, status.State);
        Assert.Equal(Now, status.Timestamp);

        var counts = Assert.IsType<CountsMessage>(Parse(MachineTopicKind.Counts, """{"seq": 44, "ts": "2026-11-26T08:00:00Z", "good": 1, "scrap": 0, "workOrder": "WO-1001"}""").Message);
        Assert.Equal((1, 0, "WO-1001"), (counts.Good, counts.Scrap, counts.WorkOrder));
    }

    [Theory]
    [InlineData(MachineTopicKind.Telemetry, "", "payload.empty")]
    [InlineData(MachineTopicKind.Telemetry, "{", "payload.malformed")]
    [InlineData(MachineTopicKind.Telemetry, "[]", "payload.not-object")]
    [InlineData(MachineTopicKind.Telemetry, """{"seq":1,"ts":"2026-11-26T08:00:00Z","values":{"t":1}} {}""", "payload.trailing")]
    [InlineData(MachineTopicKind.Telemetry, """{"ts":"2026-11-26T08:00:00Z","values":{"t":1}}""", "seq.missing")]
    [InlineData(MachineTopicKind.Telemetry, """{"seq":0,"ts":"2026-11-26T08:00:00Z","values":{"t":1}}""", "seq.invalid")]
    [InlineData(MachineTopicKind.Telemetry, """{"seq":1.5,"ts":"2026-11-26T08:00:00Z","values":{"t":1}}""", "seq.invalid")]
    [InlineData(MachineTopicKind.Telemetry, """{"seq":1,"values":{"t":1}}""", "ts.missing")]
    [InlineData(MachineTopicKind.Telemetry, """{"seq":1,"ts":"soon","values":{"t":1}}""", "ts.invalid")]
    [InlineData(MachineTopicKind.Telemetry, """{"seq":1,"ts":"2026-11-26T09:00:00Z","values":{"t":1}}""", "ts.future")]
    [InlineData(MachineTopicKind.Telemetry, """{"seq":1,"ts":"2026-11-26T08:00:00Z"}""", "values.missing")]
    [InlineData(MachineTopicKind.Telemetry, """{"seq":1,"ts":"2026-11-26T08:00:00Z","values":{}}""", "values.missing")]
    [InlineData(MachineTopicKind.Telemetry, """{"seq":1,"ts":"2026-11-26T08:00:00Z","values":{"t":"hot"}}""", "values.not-number")]
    [InlineData(MachineTopicKind.Telemetry, """{"seq":1,"ts":"2026-11-26T08:00:00Z","values":{"t":1e300}}""", "values.out-of-range")]
    [InlineData(MachineTopicKind.Telemetry, """{"seq":1,"ts":"2026-11-26T08:00:00Z","values":{"t":-1.7e308}}""", "values.out-of-range")]
    [InlineData(MachineTopicKind.Telemetry, """{"seq":1,"ts":"2026-11-26T08:00:00Z","values":{"t":1,"t":2}}""", "values.duplicate")]
    [InlineData(MachineTopicKind.Telemetry, """{"seq":1,"ts":"2026-11-26T08:00:00Z","values":{"a b":1}}""", "values.sensor")]
    [InlineData(MachineTopicKind.Telemetry, """{"seq":1,"ts":"2026-11-26T08:00:00Z","values":{"t":1},"units":{"x":"degC"}}""", "units.unknown-sensor")]
    [InlineData(MachineTopicKind.Telemetry, """{"seq":1,"ts":"2026-11-26T08:00:00Z","values":{"t":1},"units":{"t":5}}""", "units.invalid")]
    [InlineData(MachineTopicKind.Status, """{"seq":1,"ts":"2026-11-26T08:00:00Z"}""", "state.missing")]
    [InlineData(MachineTopicKind.Status, """{"seq":1,"ts":"2026-11-26T08:00:00Z","state":"on fire"}""", "state.invalid")]
    [InlineData(MachineTopicKind.Counts, """{"seq":1,"ts":"2026-11-26T08:00:00Z"}""", "counts.missing")]
    [InlineData(MachineTopicKind.Counts, """{"seq":1,"ts":"2026-11-26T08:00:00Z","good":-1}""", "good.invalid")]
    [InlineData(MachineTopicKind.Counts, """{"seq":1,"ts":"2026-11-26T08:00:00Z","good":1,"workOrder":"a/b"}""", "workOrder.invalid")]
    [InlineData(MachineTopicKind.Quality, """{"seq":1,"ts":"2026-11-26T08:00:00Z","part":"P-1"}""", "quality.empty")]
    [InlineData(MachineTopicKind.Quality, """{"seq":1,"ts":"2026-11-26T08:00:00Z","measurements":{"bore":1}}""", "measurements.invalid")]
    [InlineData(MachineTopicKind.Quality, """{"seq":1,"ts":"2026-11-26T08:00:00Z","measurements":[{"value":1}]}""", "measurements.characteristic")]
    [InlineData(MachineTopicKind.Quality, """{"seq":1,"ts":"2026-11-26T08:00:00Z","measurements":[{"characteristic":"a.b","value":1}]}""", "measurements.characteristic")]
    [InlineData(MachineTopicKind.Quality, """{"seq":1,"ts":"2026-11-26T08:00:00Z","measurements":[{"characteristic":"bore"}]}""", "measurements.value")]
    [InlineData(MachineTopicKind.Quality, """{"seq":1,"ts":"2026-11-26T08:00:00Z","measurements":[{"characteristic":"bore","value":"x"}]}""", "measurements.not-number")]
    [InlineData(MachineTopicKind.Quality, """{"seq":1,"ts":"2026-11-26T08:00:00Z","measurements":[{"characteristic":"bore","value":1,"lsl":2,"usl":1}]}""", "measurements.spec")]
    [InlineData(MachineTopicKind.Quality, """{"seq":1,"ts":"2026-11-26T08:00:00Z","measurements":[{"characteristic":"bore","value":1e300}]}""", "measurements.out-of-range")]
    [InlineData(MachineTopicKind.Quality, """{"seq":1,"ts":"2026-11-26T08:00:00Z","measurements":[{"characteristic":"bore","value":1},{"characteristic":"bore","value":2}]}""", "measurements.duplicate")]
    [InlineData(MachineTopicKind.Quality, """{"seq":1,"ts":"2026-11-26T08:00:00Z","defect":"a b"}""", "defect.invalid")]
    [InlineData(MachineTopicKind.Quality, """{"seq":1,"ts":"2026-11-26T08:00:00Z","defect":"burr","reinspection":"yes"}""", "reinspection.invalid")]
    [InlineData(MachineTopicKind.Quality, """{"seq":1,"ts":"2026-11-26T08:00:00Z","defect":"burr","start":"2026-11-26T08:00:01Z"}""", "start.invalid")]
    [InlineData(MachineTopicKind.Quality, """{"seq":1,"ts":"2026-11-26T08:00:00Z","defect":"burr","start":"later"}""", "start.invalid")]
    public void Rejects_with_a_reason_code(MachineTopicKind kind, string json, string code)
    {
        var result = Parse(kind, json);
        Assert.False(result.Ok);
        Assert.StartsWith(code + ":", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public void Parses_an_inspection_with_its_measurements_against_their_limits()
    {
        var quality = Assert.IsType<Twin.Quality.QualityMessage>(Parse(MachineTopicKind.Quality, """
            {"seq": 45, "ts": "2026-11-26T08:00:00Z", "part": "S-17", "workOrder": "WO-1002", "start": "2026-11-26T07:59:00Z",
             "measurements": [{"characteristic": "diameter", "value": 40.012, "lsl": 39.95, "usl": 40.05, "nominal": 40, "unit": "mm"},
                              {"characteristic": "length", "value": 120.4, "usl": 120.5}],
             "defect": "burr", "reinspection": true}
            """).Message);
        Assert.Equal((45L, "S-17", "WO-1002", "burr", true), (quality.Seq, quality.Part, quality.WorkOrder, quality.Defect, quality.Reinspection));
        Assert.Equal(Now.AddMinutes(-1), quality.Start);
        Assert.Equal(new Twin.Quality.Measurement("diameter", 40.012, new Twin.Quality.SpecLimits(39.95, 40.05, 40, "mm")), quality.Measurements[0]);
        Assert.Equal(new Twin.Quality.SpecLimits(null, 120.5), quality.Measurements[1].Spec);
        Assert.False(quality.Measurements[1].Spec.IsOutside(120.4));
        Assert.True(quality.Measurements[0].Spec.IsOutside(40.06));

        var scrapOnly = Assert.IsType<Twin.Quality.QualityMessage>(Parse(MachineTopicKind.Quality, """{"seq":46,"ts":"2026-11-26T08:00:00Z","defect":"scratch"}""").Message);
        Assert.Empty(scrapOnly.Measurements);
    }

    [Fact]
    public void Rejects_oversized_payloads_and_too_many_values()
    {
        var small = new PayloadLimits { MaxPayloadBytes = 100, MaxValuesPerMessage = 2 };
        var big = PayloadParser.Parse(MachineTopicKind.Telemetry, new byte[101], small, Now);
        Assert.StartsWith("payload.too-large", big.Error, StringComparison.Ordinal);
        var many = PayloadParser.Parse(MachineTopicKind.Telemetry, Encoding.UTF8.GetBytes("""{"seq":1,"ts":"2026-11-26T08:00:00Z","values":{"a":1,"b":2,"c":3}}"""), small, Now);
        Assert.StartsWith("values.too-many", many.Error, StringComparison.Ordinal);
    }

    [Fact]
    public void Arbitrary_bytes_never_throw()
    {
        var random = new Random(42);
        var seeds = new[] { """{"seq":1,"ts":"2026-11-26T08:00:00Z","values":{"t":1.5}}""", """{"seq":2,"ts":"2026-11-26T08:00:00Z","state":"idle"}""" };
        for (var i = 0; i < 20_000; i++)
        {
            byte[] bytes;
            if (i % 2 == 0)
            {
                bytes = new byte[random.Next(0, 200)];
                random.NextBytes(bytes);
            }
            else
            {
                bytes = Encoding.UTF8.GetBytes(seeds[i % seeds.Length]);
                for (var flips = random.Next(1, 5); flips > 0; flips--)
                {
                    bytes[random.Next(bytes.Length)] = (byte)random.Next(256);
                }
            }

            foreach (var kind in Enum.GetValues<MachineTopicKind>())
            {
                var result = PayloadParser.Parse(kind, bytes, Limits, Now);
                Assert.True(result.Ok ^ (result.Error is not null));
            }
        }
    }
}
