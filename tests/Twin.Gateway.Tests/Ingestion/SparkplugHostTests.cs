using Google.Protobuf;
using Twin.Gateway.Mqtt;
using Twin.Ingestion;
using Twin.Ingestion.Sparkplug;
using Twin.Ingestion.Sparkplug.Protocol;
using Twin.Machines;
using Metric = Twin.Ingestion.Sparkplug.Protocol.Payload.Types.Metric;

namespace Twin.Gateway.Tests.Ingestion;

/// <summary>The Sparkplug decoder stage on its own: sessions, seq, aliases, numbering for the twins.</summary>
public sealed class SparkplugHostTests
{
    private static readonly DateTimeOffset Now = new(2026, 12, 1, 8, 0, 0, TimeSpan.Zero);
    private readonly SparkplugHost _host = new(new SparkplugOptions { RebirthInterval = TimeSpan.FromSeconds(5), ReorderTimeout = TimeSpan.Zero }, new PayloadLimits());

    private static byte[] Birth(ulong seq, ulong bdSeq, DateTimeOffset at, params Metric[] metrics)
    {
        var payload = new Payload { Seq = seq, Timestamp = Ms(at) };
        payload.Metrics.Add(new Metric { Name = "bdSeq", Datatype = (uint)DataType.Int64, LongValue = bdSeq });
        payload.Metrics.Add(metrics);
        return payload.ToByteArray();
    }

    private static byte[] Data(ulong seq, DateTimeOffset at, params Metric[] metrics)
    {
        var payload = new Payload { Seq = seq, Timestamp = Ms(at) };
        payload.Metrics.Add(metrics);
        return payload.ToByteArray();
    }

    private static ulong Ms(DateTimeOffset at) => (ulong)at.ToUnixTimeMilliseconds();

    private static Metric Define(string name, ulong alias, DataType type, double value, string? unit = null)
    {
        var metric = new Metric { Name = name, Alias = alias, Datatype = (uint)type, DoubleValue = value };
        if (unit is not null)
        {
            metric.Properties = new Payload.Types.PropertySet();
            metric.Properties.Keys.Add("engUnit");
            metric.Properties.Values.Add(new Payload.Types.PropertyValue { Type = (uint)DataType.String, StringValue = unit });
        }

        return metric;
    }

    private static Metric ByAlias(ulong alias, double value) => new() { Alias = alias, DoubleValue = value };

    private SparkplugOutcome Handle(string topic, byte[] payload, DateTimeOffset? at = null) => _host.Handle(topic, payload, payload.Length, at ?? Now).Single();

    private void Born(DateTimeOffset? at = null)
    {
        Assert.Null(Handle("spBv1.0/g1/NBIRTH/n1", Birth(0, 7, at ?? Now)).Rejection);
        Assert.Null(Handle("spBv1.0/g1/DBIRTH/n1/d1", Data(1, at ?? Now, Define("Motor/Temp", 1, DataType.Double, 20, "degF"))).Rejection);
    }

    [Fact]
    public void A_birth_gives_its_values_with_units_and_data_resolves_aliases()
    {
        Born();
        var outcome = Handle("spBv1.0/g1/DDATA/n1/d1", Data(2, Now.AddSeconds(1), ByAlias(1, 21.5)));
        var message = Assert.IsType<TelemetryMessage>(Assert.Single(outcome.Messages).Message);
        Assert.Equal("g1/d1", outcome.Messages[0].GrainKey);
        Assert.Equal(new SensorReading("Motor.Temp", 21.5, "degF"), Assert.Single(message.Readings));
        Assert.Equal(Now.AddSeconds(1), message.Timestamp);
        Assert.Equal(SparkplugHost.Source, message.Source);
    }

    [Fact]
    public void Seq_wraps_from_255_to_0_and_the_twin_numbers_keep_rising()
    {
        Born();
        var numbers = new List<long>();
        for (var i = 2; i < 600; i++)
        {
            var outcome = Handle("spBv1.0/g1/DDATA/n1/d1", Data((ulong)(i % 256), Now.AddMilliseconds(i), ByAlias(1, i)));
            Assert.Null(outcome.Rejection);
            numbers.Add(outcome.Messages.Single().Message.Seq);
        }

        Assert.Equal(numbers.Order(), numbers);
        Assert.Equal(numbers.Count, numbers.Distinct().Count());
    }

    [Fact]
    public void A_redelivered_message_gets_the_numbers_it_had_so_the_twin_dedups_it()
    {
        Born();
        var first = Handle("spBv1.0/g1/DDATA/n1/d1", Data(2, Now, ByAlias(1, 1)));
        Handle("spBv1.0/g1/DDATA/n1/d1", Data(3, Now.AddSeconds(1), ByAlias(1, 2)));
        var again = Handle("spBv1.0/g1/DDATA/n1/d1", Data(2, Now, ByAlias(1, 1)));
        Assert.Null(again.Rejection);
        var (original, redelivered) = ((TelemetryMessage)first.Messages.Single().Message, (TelemetryMessage)again.Messages.Single().Message);
        Assert.Equal((original.Seq, original.Timestamp, original.Source), (redelivered.Seq, redelivered.Timestamp, redelivered.Source));
        Assert.Equal(original.Readings.ToArray(), redelivered.Readings.ToArray());
        Assert.Null(Handle("spBv1.0/g1/DDATA/n1/d1", Data(4, Now.AddSeconds(2), ByAlias(1, 3))).Rejection);
    }

    [Fact]
    public void A_gap_is_refused_with_a_rebirth_request_until_the_node_is_born_again()
    {
        Born();
        var gap = Handle("spBv1.0/g1/DDATA/n1/d1", Data(5, Now, ByAlias(1, 1)));
        Assert.StartsWith("sparkplug.seq-gap: expected seq 2, got 5 (3 message(s) missing)", gap.Rejection, StringComparison.Ordinal);
        Assert.Equal("spBv1.0/g1/NCMD/n1", gap.Command?.Topic);
        var request = Payload.Parser.ParseFrom(gap.Command!.Payload).Metrics.Single();
        Assert.Equal(("Node Control/Rebirth", true, (uint)DataType.Boolean), (request.Name, request.BooleanValue, request.Datatype));

        var next = Handle("spBv1.0/g1/DDATA/n1/d1", Data(6, Now, ByAlias(1, 1)), Now.AddSeconds(1));
        Assert.StartsWith("sparkplug.awaiting-rebirth", next.Rejection, StringComparison.Ordinal);
        Assert.Null(next.Command); // asked once per RebirthInterval
        Assert.NotNull(Handle("spBv1.0/g1/DDATA/n1/d1", Data(7, Now, ByAlias(1, 1)), Now.AddSeconds(6)).Command);

        Born(Now.AddSeconds(7));
        Assert.Null(Handle("spBv1.0/g1/DDATA/n1/d1", Data(2, Now.AddSeconds(8), ByAlias(1, 1))).Rejection);
    }

    [Fact]
    public void Messages_ahead_of_a_missing_seq_wait_for_it_and_go_on_in_order()
    {
        var host = new SparkplugHost(new SparkplugOptions { ReorderTimeout = TimeSpan.FromSeconds(2) }, new PayloadLimits());
        Assert.Single(host.Handle("spBv1.0/g1/NBIRTH/n1", Birth(0, 7, Now), 1, Now));
        Assert.Single(host.Handle("spBv1.0/g1/DBIRTH/n1/d1", Data(1, Now, Define("t", 1, DataType.Double, 20)), 1, Now));

        Assert.Empty(host.Handle("spBv1.0/g1/DDATA/n1/d1", Data(3, Now.AddSeconds(3), ByAlias(1, 3)), 1, Now, "third"));
        Assert.Empty(host.Handle("spBv1.0/g1/DDATA/n1/d1", Data(4, Now.AddSeconds(4), ByAlias(1, 4)), 1, Now, "fourth"));
        Assert.True(host.Holding);
        Assert.Empty(host.Expire(Now.AddSeconds(1)));

        var released = host.Handle("spBv1.0/g1/DDATA/n1/d1", Data(2, Now.AddSeconds(2), ByAlias(1, 2)), 1, Now.AddSeconds(1), "second");
        Assert.Equal(["second", "third", "fourth"], released.Select(o => (string)o.Token!));
        var numbers = released.Select(o => o.Messages.Single().Message.Seq).ToList();
        Assert.Equal(numbers.Order(), numbers);
        Assert.False(host.Holding);
        Assert.Single(Assert.Single(host.Handle("spBv1.0/g1/DDATA/n1/d1", Data(5, Now.AddSeconds(5), ByAlias(1, 5)), 1, Now.AddSeconds(1))).Messages);
    }

    [Fact]
    public void A_missing_seq_that_does_not_come_within_the_reorder_timeout_is_a_gap()
    {
        var host = new SparkplugHost(new SparkplugOptions { ReorderTimeout = TimeSpan.FromSeconds(2) }, new PayloadLimits());
        host.Handle("spBv1.0/g1/NBIRTH/n1", Birth(0, 7, Now), 1, Now);
        host.Handle("spBv1.0/g1/DBIRTH/n1/d1", Data(1, Now, Define("t", 1, DataType.Double, 20)), 1, Now);
        Assert.Empty(host.Handle("spBv1.0/g1/DDATA/n1/d1", Data(3, Now, ByAlias(1, 3)), 1, Now, "third"));
        Assert.Empty(host.Handle("spBv1.0/g1/DDATA/n1/d1", Data(4, Now, ByAlias(1, 4)), 1, Now, "fourth"));

        var expired = host.Expire(Now.AddSeconds(2));
        Assert.Equal(["third", "fourth"], expired.Select(o => (string)o.Token!));
        Assert.StartsWith("sparkplug.seq-gap: expected seq 2, got 3", expired[0].Rejection, StringComparison.Ordinal);
        Assert.NotNull(expired[0].Command);
        Assert.StartsWith("sparkplug.awaiting-rebirth", expired[1].Rejection, StringComparison.Ordinal);
        Assert.False(host.Holding);
        Assert.StartsWith("sparkplug.awaiting-rebirth", host.Handle("spBv1.0/g1/DDATA/n1/d1", Data(2, Now, ByAlias(1, 2)), 1, Now.AddSeconds(3)).Single().Rejection, StringComparison.Ordinal);
    }

    [Fact]
    public void Data_before_a_birth_and_unknown_aliases_are_refused_with_a_rebirth_request()
    {
        var early = Handle("spBv1.0/g1/DDATA/n1/d1", Data(3, Now, ByAlias(1, 1)));
        Assert.StartsWith("sparkplug.before-birth", early.Rejection, StringComparison.Ordinal);
        Assert.Equal("g1", early.Factory);
        Assert.NotNull(early.Command);

        Born(Now.AddSeconds(10));
        var unknown = Handle("spBv1.0/g1/DDATA/n1/d1", Data(2, Now.AddSeconds(11), ByAlias(9, 1)), Now.AddSeconds(11));
        Assert.StartsWith("sparkplug.unknown-alias: alias 9", unknown.Rejection, StringComparison.Ordinal);
        Assert.NotNull(unknown.Command);
    }

    [Fact]
    public void A_rebirth_numbers_on_above_the_last_session_even_with_an_older_birth_time()
    {
        Born();
        var before = Handle("spBv1.0/g1/DDATA/n1/d1", Data(2, Now, ByAlias(1, 1))).Messages.Single().Message.Seq;
        Born(Now.AddHours(-1));
        var after = Handle("spBv1.0/g1/DDATA/n1/d1", Data(2, Now, ByAlias(1, 1))).Messages.Single().Message.Seq;
        Assert.True(after > before, $"{after} > {before}");
    }

    [Fact]
    public void A_death_with_the_births_bdSeq_takes_the_node_and_its_devices_offline_and_a_stale_one_is_refused()
    {
        Born();
        var stale = Handle("spBv1.0/g1/NDEATH/n1", Birth(0, 6, Now));
        Assert.StartsWith("sparkplug.stale-death: NDEATH bdSeq 6 does not match the NBIRTH's bdSeq 7", stale.Rejection, StringComparison.Ordinal);

        var death = Handle("spBv1.0/g1/NDEATH/n1", Birth(0, 7, Now));
        Assert.Null(death.Rejection);
        Assert.Equal(["g1/n1", "g1/d1"], death.Messages.Select(m => m.GrainKey));
        Assert.All(death.Messages, m => Assert.IsType<OfflineMessage>(m.Message));
        Assert.StartsWith("sparkplug.before-birth", Handle("spBv1.0/g1/DDATA/n1/d1", Data(2, Now, ByAlias(1, 1))).Rejection, StringComparison.Ordinal);
    }

    [Fact]
    public void A_node_without_metrics_of_its_own_comes_back_with_its_next_birth_after_a_death()
    {
        Born();
        Assert.Null(Handle("spBv1.0/g1/NDEATH/n1", Birth(0, 7, Now)).Rejection);

        var reborn = Handle("spBv1.0/g1/NBIRTH/n1", Birth(0, 8, Now.AddSeconds(5)));
        Assert.Null(reborn.Rejection);
        var hello = Assert.Single(reborn.Messages);
        Assert.Equal("g1/n1", hello.GrainKey);
        Assert.Empty(Assert.IsType<TelemetryMessage>(hello.Message).Readings);

        // A birth with nothing dead before it sends nothing for a node without metrics.
        Assert.Empty(Handle("spBv1.0/g1/NBIRTH/n1", Birth(0, 9, Now.AddSeconds(6))).Messages);
    }

    [Fact]
    public void A_metric_born_as_text_stays_no_sensor_whatever_type_its_data_claims()
    {
        Assert.Null(Handle("spBv1.0/g1/NBIRTH/n1", Birth(0, 7, Now)).Rejection);
        var text = new Metric { Name = "label", Alias = 3, Datatype = (uint)DataType.String, StringValue = "batch A", Timestamp = Ms(Now) };
        Assert.Null(Handle("spBv1.0/g1/DBIRTH/n1/d1", Data(1, Now, Define("temp", 1, DataType.Double, 20), text)).Rejection);

        var data = Handle("spBv1.0/g1/DDATA/n1/d1", Data(2, Now, ByAlias(1, 21), new Metric { Alias = 3, Datatype = (uint)DataType.Double, DoubleValue = 99 }));
        var readings = Assert.IsType<TelemetryMessage>(Assert.Single(data.Messages).Message).Readings;
        Assert.Equal(["temp"], readings.Select(r => r.Sensor));
    }

    [Fact]
    public void Integer_types_decode_with_their_sign_and_non_numbers_are_no_sensors()
    {
        var payload = new Payload { Seq = 0, Timestamp = Ms(Now) };
        payload.Metrics.Add(new Metric { Name = "bdSeq", Datatype = (uint)DataType.Uint64, LongValue = 1 });
        payload.Metrics.Add(new Metric { Name = "i8", Datatype = (uint)DataType.Int8, IntValue = unchecked((uint)-5) });
        payload.Metrics.Add(new Metric { Name = "i16", Datatype = (uint)DataType.Int16, IntValue = 0xFFF4 });
        payload.Metrics.Add(new Metric { Name = "i64", Datatype = (uint)DataType.Int64, LongValue = unchecked((ulong)-9_000_000_000L) });
        payload.Metrics.Add(new Metric { Name = "u32", Datatype = (uint)DataType.Uint32, LongValue = 4_000_000_000 });
        payload.Metrics.Add(new Metric { Name = "flag", Datatype = (uint)DataType.Boolean, BooleanValue = true });
        payload.Metrics.Add(new Metric { Name = "name", Datatype = (uint)DataType.String, StringValue = "x" });
        payload.Metrics.Add(new Metric { Name = "gone", Datatype = (uint)DataType.Double, IsNull = true });
        payload.Metrics.Add(new Metric { Name = "Node Control/Rebirth", Datatype = (uint)DataType.Boolean, BooleanValue = false });
        var outcome = Handle("spBv1.0/g1/NBIRTH/n1", payload.ToByteArray());
        var readings = Assert.IsType<TelemetryMessage>(outcome.Messages.Single().Message).Readings.ToDictionary(r => r.Sensor, r => r.Value);
        Assert.Equal(new Dictionary<string, double> { ["i8"] = -5, ["i16"] = -12, ["i64"] = -9_000_000_000, ["u32"] = 4_000_000_000, ["flag"] = 1 }, readings);
    }

    [Fact]
    public void Bad_metrics_are_refused_one_by_one_and_the_good_ones_are_taken()
    {
        Assert.Null(Handle("spBv1.0/g1/NBIRTH/n1", Birth(0, 7, Now)).Rejection);
        var birth = Handle("spBv1.0/g1/DBIRTH/n1/d1", Data(
            1,
            Now,
            Define("good", 1, DataType.Double, 11),
            Define("nan", 2, DataType.Double, double.NaN),
            new Metric { Name = "big", Alias = 3, Datatype = (uint)DataType.Int64, LongValue = 9_007_199_254_740_993 },
            new Metric { Name = "ubig", Alias = 4, Datatype = (uint)DataType.Uint64, LongValue = ulong.MaxValue },
            new Metric { Name = "exact", Alias = 5, Datatype = (uint)DataType.Int64, LongValue = 999_999_999_999_999 },
            Define("Motor/Temp", 6, DataType.Double, 20),
            Define("Motor.Temp", 7, DataType.Double, 30),
            new Metric { Name = "later", Alias = 8, Datatype = (uint)DataType.Double, DoubleValue = 1, Timestamp = Ms(Now.AddHours(1)) }));
        Assert.Null(birth.Rejection);
        Assert.Null(birth.Command);
        var readings = Assert.IsType<TelemetryMessage>(Assert.Single(birth.Messages).Message).Readings;
        Assert.Equal(new Dictionary<string, double> { ["good"] = 11, ["exact"] = 999_999_999_999_999, ["Motor.Temp"] = 20 }, readings.ToDictionary(r => r.Sensor, r => r.Value));
        Assert.Equal(["good", "exact", "Motor/Temp"], birth.Messages[0].Metrics.ToArray());
        string[] expected = ["values.not-number: metric 'nan'", "values.out-of-range: metric 'big' is 9007199254740992;", "values.out-of-range: metric 'ubig' is 1.8446744073709552E+19;", "values.duplicate: metric 'Motor.Temp'", "ts.future: metric 'later'"];
        Assert.Equal(expected.Length, birth.Refused.Count);
        Assert.All(expected.Zip(birth.Refused), p => Assert.StartsWith(p.First, p.Second.Reason, StringComparison.Ordinal));
        Assert.Contains("\"name\": \"nan\"", birth.Refused[0].Text, StringComparison.Ordinal);

        // The same in data: the bad metric costs itself only, and the refused duplicate stays refused.
        var data = Handle("spBv1.0/g1/DDATA/n1/d1", Data(2, Now, ByAlias(1, 12), ByAlias(2, double.PositiveInfinity), ByAlias(7, 31)));
        Assert.Equal([12.0], Assert.IsType<TelemetryMessage>(Assert.Single(data.Messages).Message).Readings.Select(r => r.Value));
        Assert.Equal(["values.not-number", "values.duplicate"], data.Refused.Select(r => Twin.DeadLetters.DeadLetter.ReasonCodeOf(r.Reason)));
    }

    [Fact]
    public void A_birth_with_more_metrics_than_a_message_carries_is_split_and_numbered_the_same_when_redelivered()
    {
        var host = new SparkplugHost(new SparkplugOptions { ReorderTimeout = TimeSpan.Zero }, new PayloadLimits { MaxValuesPerMessage = 256 });
        Assert.Single(host.Handle("spBv1.0/g1/NBIRTH/n1", Birth(0, 7, Now), 1, Now));
        var metrics = Enumerable.Range(0, 600).Select(i => Define($"m{i}", (ulong)i + 1, DataType.Double, i)).ToArray();
        var birth = Data(1, Now, metrics);
        var first = host.Handle("spBv1.0/g1/DBIRTH/n1/d1", birth, birth.Length, Now).Single();
        Assert.Equal([256, 256, 88], first.Messages.Select(m => ((TelemetryMessage)m.Message).Readings.Length));
        Assert.Equal(Enumerable.Range(0, 600).Select(i => (double)i), first.Messages.SelectMany(m => ((TelemetryMessage)m.Message).Readings).Select(r => r.Value));
        var numbers = first.Messages.Select(m => m.Message.Seq).ToList();
        Assert.Equal([numbers[0], numbers[0] + 1, numbers[0] + 2], numbers);

        var data = host.Handle("spBv1.0/g1/DDATA/n1/d1", Data(2, Now.AddSeconds(1), ByAlias(1, 5)), 1, Now).Single();
        Assert.Equal(numbers[2] + 1, data.Messages.Single().Message.Seq);

        // Redelivered after a reconnect: the same numbers, so the twin takes none of it twice.
        var again = host.Handle("spBv1.0/g1/DBIRTH/n1/d1", birth, birth.Length, Now).Single();
        Assert.Equal(numbers, again.Messages.Select(m => m.Message.Seq));
    }

    [Fact]
    public void A_too_large_DBIRTH_keeps_its_place_in_the_sequence_and_only_its_device_is_refused()
    {
        var limits = new PayloadLimits { MaxPayloadBytes = 1024 };
        var host = new SparkplugHost(new SparkplugOptions { ReorderTimeout = TimeSpan.Zero }, limits);
        Assert.Single(host.Handle("spBv1.0/g1/NBIRTH/n1", Birth(0, 7, Now), 1, Now));
        Assert.Null(host.Handle("spBv1.0/g1/DBIRTH/n1/d1", Data(1, Now, Define("t", 1, DataType.Double, 20)), 1, Now).Single().Rejection);

        var large = Data(2, Now, [.. Enumerable.Range(0, 200).Select(i => Define($"metric-{i}", (ulong)i + 1, DataType.Double, i))]);
        Assert.True(large.Length > limits.MaxPayloadBytes);
        var seq = SparkplugHost.PeekSeq(new System.Buffers.ReadOnlySequence<byte>(large));
        Assert.Equal(2UL, seq);
        var refused = host.Handle("spBv1.0/g1/DBIRTH/n1/big", large.AsSpan(0, 1024), large.Length, Now, oversizedSeq: seq).Single();
        Assert.StartsWith("payload.too-large:", refused.Rejection, StringComparison.Ordinal);
        Assert.Contains("the device 'big' cannot be born", refused.Rejection, StringComparison.Ordinal);
        Assert.Null(refused.Command);

        // The node's next seq is not a gap: the other device goes on.
        Assert.Null(host.Handle("spBv1.0/g1/DDATA/n1/d1", Data(3, Now, ByAlias(1, 21)), 1, Now).Single().Rejection);

        // The unborn device's data say why, and ask for no rebirth that would bring the same birth again.
        var data = host.Handle("spBv1.0/g1/DDATA/n1/big", Data(4, Now, ByAlias(1, 1)), 1, Now).Single();
        Assert.StartsWith("sparkplug.device-refused: DDATA from device 'big'", data.Rejection, StringComparison.Ordinal);
        Assert.Contains("payload.too-large", data.Rejection, StringComparison.Ordinal);
        Assert.Null(data.Command);
        Assert.Null(host.Handle("spBv1.0/g1/DDATA/n1/d1", Data(5, Now, ByAlias(1, 22)), 1, Now).Single().Rejection);
    }

    private static byte[] Compressed(byte[] inner, string? algorithm, Func<Stream, Stream>? compressor = null, ulong? outerSeq = null)
    {
        using var buffer = new MemoryStream();
        using (var stream = compressor?.Invoke(buffer) ?? (algorithm == "GZIP"
            ? new System.IO.Compression.GZipStream(buffer, System.IO.Compression.CompressionLevel.Optimal, leaveOpen: true)
            : new System.IO.Compression.ZLibStream(buffer, System.IO.Compression.CompressionLevel.Optimal, leaveOpen: true)))
        {
            stream.Write(inner);
        }

        var outer = new Payload { Uuid = SparkplugHost.CompressedUuid, Body = ByteString.CopyFrom(buffer.ToArray()) };
        if (outerSeq is { } seq)
        {
            outer.Seq = seq;
        }

        if (algorithm is not null)
        {
            outer.Metrics.Add(new Metric { Name = "algorithm", Datatype = (uint)DataType.String, StringValue = algorithm });
        }

        return outer.ToByteArray();
    }

    [Fact]
    public void Compressed_payloads_are_decompressed_and_read_as_the_payload_inside()
    {
        Assert.Null(Handle("spBv1.0/g1/NBIRTH/n1", Compressed(Birth(0, 7, Now), null)).Rejection);
        var birth = Handle("spBv1.0/g1/DBIRTH/n1/d1", Compressed(Data(1, Now, Define("a", 1, DataType.Double, 1), Define("b", 2, DataType.Double, 2)), "DEFLATE"));
        Assert.Equal([1.0, 2.0], Assert.IsType<TelemetryMessage>(Assert.Single(birth.Messages).Message).Readings.Select(r => r.Value));

        // GZIP, raw DEFLATE, and the outer seq when the inner payload has none.
        var gzip = Handle("spBv1.0/g1/DDATA/n1/d1", Compressed(Data(2, Now, ByAlias(1, 3)), "GZIP"));
        Assert.Equal(3, ((TelemetryMessage)Assert.Single(gzip.Messages).Message).Readings.Single().Value);
        var raw = Handle("spBv1.0/g1/DDATA/n1/d1", Compressed(Data(3, Now, ByAlias(2, 4)), "DEFLATE", b => new System.IO.Compression.DeflateStream(b, System.IO.Compression.CompressionLevel.Optimal, leaveOpen: true)));
        Assert.Equal(4, ((TelemetryMessage)Assert.Single(raw.Messages).Message).Readings.Single().Value);
        var inner = new Payload { Timestamp = Ms(Now) };
        inner.Metrics.Add(ByAlias(1, 5));
        var outerSeq = Handle("spBv1.0/g1/DDATA/n1/d1", Compressed(inner.ToByteArray(), null, outerSeq: 4));
        Assert.Equal(5, ((TelemetryMessage)Assert.Single(outerSeq.Messages).Message).Readings.Single().Value);

        // What does not decompress is malformed, and the node's sequence goes on.
        var outer = new Payload { Uuid = SparkplugHost.CompressedUuid, Body = ByteString.CopyFrom([1, 2, 3, 4]) };
        Assert.StartsWith("payload.malformed: a compressed Sparkplug payload (DEFLATE)", Handle("spBv1.0/g1/DDATA/n1/d1", outer.ToByteArray()).Rejection, StringComparison.Ordinal);
        Assert.StartsWith("payload.malformed: a compressed Sparkplug payload (LZ4)", Handle("spBv1.0/g1/DDATA/n1/d1", Compressed(Data(5, Now), "LZ4")).Rejection, StringComparison.Ordinal);
        Assert.Null(Handle("spBv1.0/g1/DDATA/n1/d1", Compressed(Data(5, Now, ByAlias(1, 6)), "GZIP")).Rejection);
    }

    [Fact]
    public void A_compressed_payload_too_large_once_decompressed_is_refused_in_its_place()
    {
        var host = new SparkplugHost(new SparkplugOptions { ReorderTimeout = TimeSpan.Zero }, new PayloadLimits { MaxPayloadBytes = 1024 });
        Assert.Single(host.Handle("spBv1.0/g1/NBIRTH/n1", Birth(0, 7, Now), 1, Now));
        Assert.Null(host.Handle("spBv1.0/g1/DBIRTH/n1/d1", Data(1, Now, Define("t", 1, DataType.Double, 20)), 1, Now).Single().Rejection);

        var large = Compressed(Data(2, Now, [.. Enumerable.Range(0, 300).Select(i => Define("m", (ulong)i + 1, DataType.Double, 0))]), "GZIP");
        Assert.True(large.Length < 1024);
        var refused = host.Handle("spBv1.0/g1/DBIRTH/n1/big", large, large.Length, Now).Single();
        Assert.StartsWith("payload.too-large:", refused.Rejection, StringComparison.Ordinal);
        Assert.Contains("decompressed (GZIP)", refused.Rejection, StringComparison.Ordinal);
        Assert.Null(host.Handle("spBv1.0/g1/DDATA/n1/d1", Data(3, Now, ByAlias(1, 21)), 1, Now).Single().Rejection);

        // A bomb: more than 16 times the limit is not even read for its seq.
        var zeros = new Payload();
        zeros.Metrics.Add(new Metric { Name = "x", Datatype = (uint)DataType.Bytes, BytesValue = ByteString.CopyFrom(new byte[100_000]) });
        var compressed = Compressed(zeros.ToByteArray(), "GZIP");
        Assert.True(compressed.Length < 1024);
        var bomb = host.Handle("spBv1.0/g1/DDATA/n1/d1", compressed, compressed.Length, Now).Single();
        Assert.Contains("decompresses to more than 16384 bytes", bomb.Rejection, StringComparison.Ordinal);
    }

    [Fact]
    public void One_edge_node_id_in_two_groups_of_one_factory_feeds_its_machines_from_one_session_only()
    {
        var host = new SparkplugHost(new SparkplugOptions { ReorderTimeout = TimeSpan.Zero, Factories = { ["g1"] = "f", ["g2"] = "f" } }, new PayloadLimits());
        SparkplugOutcome One(string topic, byte[] payload) => host.Handle(topic, payload, payload.Length, Now).Single();
        Assert.Null(One("spBv1.0/g1/NBIRTH/n1", Birth(0, 1, Now, Define("up", 9, DataType.Double, 1))).Rejection);
        Assert.Null(One("spBv1.0/g1/DBIRTH/n1/d1", Data(1, Now, Define("t", 1, DataType.Double, 20))).Rejection);

        // The second session is born, but feeds neither f/n1 nor f/d1.
        var node = One("spBv1.0/g2/NBIRTH/n1", Birth(0, 5, Now, Define("up", 9, DataType.Double, 2)));
        Assert.StartsWith("sparkplug.machine-conflict: the machine f/n1 is fed by edge node 'n1' of group 'g1'", node.Rejection, StringComparison.Ordinal);
        Assert.Empty(node.Messages);
        Assert.StartsWith("sparkplug.machine-conflict: the machine f/d1", One("spBv1.0/g2/DBIRTH/n1/d1", Data(1, Now, Define("t", 1, DataType.Double, 99))).Rejection, StringComparison.Ordinal);
        var refused = One("spBv1.0/g2/DDATA/n1/d1", Data(2, Now, ByAlias(1, 98)));
        Assert.StartsWith("sparkplug.machine-conflict", refused.Rejection, StringComparison.Ordinal);
        Assert.Null(refused.Command);
        Assert.StartsWith("sparkplug.machine-conflict", One("spBv1.0/g2/NDATA/n1", Data(3, Now, ByAlias(9, 3))).Rejection, StringComparison.Ordinal);
        Assert.Null(One("spBv1.0/g1/DDATA/n1/d1", Data(2, Now, ByAlias(1, 21))).Rejection);

        // Its death takes nothing of the first session's offline.
        Assert.Empty(One("spBv1.0/g2/NDEATH/n1", Birth(0, 5, Now)).Messages);
        Assert.StartsWith("sparkplug.machine-conflict", One("spBv1.0/g2/NBIRTH/n1", Birth(0, 6, Now)).Rejection, StringComparison.Ordinal);

        // Once the first session ends, the second is asked to be born again, and then feeds them.
        Assert.Equal(["f/n1", "f/d1"], One("spBv1.0/g1/NDEATH/n1", Birth(0, 1, Now)).Messages.Select(m => m.GrainKey));
        var free = One("spBv1.0/g2/NDATA/n1", Data(1, Now, ByAlias(9, 4)));
        Assert.StartsWith("sparkplug.before-birth", free.Rejection, StringComparison.Ordinal);
        Assert.Equal("spBv1.0/g2/NCMD/n1", free.Command?.Topic);
        Assert.Null(One("spBv1.0/g2/NBIRTH/n1", Birth(0, 7, Now, Define("up", 9, DataType.Double, 5))).Rejection);
        Assert.Null(One("spBv1.0/g2/DBIRTH/n1/d1", Data(1, Now, Define("t", 1, DataType.Double, 30))).Rejection);
    }

    [Fact]
    public void The_seq_is_read_from_a_payload_without_decoding_it()
    {
        Assert.Equal(17UL, SparkplugHost.PeekSeq(new System.Buffers.ReadOnlySequence<byte>(Data(17, Now, Define("a", 1, DataType.Double, 1)))));
        Assert.Null(SparkplugHost.PeekSeq(new System.Buffers.ReadOnlySequence<byte>(new Payload { Timestamp = 1 }.ToByteArray())));
        Assert.Null(SparkplugHost.PeekSeq(new System.Buffers.ReadOnlySequence<byte>([0xFF, 0xFF, 0xFF])));
    }

    [Theory]
    [InlineData("spBv1.0/g1/DDATA/n1", "sparkplug.topic")]
    [InlineData("spBv1.0/g1/NFOO/n1", "sparkplug.topic")]
    [InlineData("spBv1.0/g 1/NBIRTH/n1", "topic.factory")]
    public void Bad_topics_are_refused_with_the_reason(string topic, string reason)
    {
        var outcome = Handle(topic, Birth(0, 1, Now));
        Assert.Equal(reason, Twin.DeadLetters.DeadLetter.ReasonCodeOf(outcome.Rejection!));
    }

    [Fact]
    public void A_device_id_that_is_no_machine_id_is_refused_without_breaking_the_nodes_seq()
    {
        Born();
        Assert.StartsWith("topic.machine", Handle("spBv1.0/g1/DBIRTH/n1/a b", Data(2, Now, Define("x", 5, DataType.Double, 1))).Rejection, StringComparison.Ordinal);
        Assert.Null(Handle("spBv1.0/g1/DDATA/n1/d1", Data(3, Now, ByAlias(1, 1))).Rejection);
    }

    [Fact]
    public void Bytes_that_are_no_sparkplug_payload_are_malformed_and_commands_are_ignored()
    {
        Assert.StartsWith("payload.malformed", Handle("spBv1.0/g1/NDATA/n1", [0xFF, 0xFF, 0xFF]).Rejection, StringComparison.Ordinal);
        Assert.True(Handle("spBv1.0/g1/NCMD/n1", [1, 2]).IsIgnored);
        Assert.True(Handle("spBv1.0/STATE/other-host", "{}"u8.ToArray()).IsIgnored);
    }

    [Fact]
    public void Profile_aliases_written_as_paths_match_sparkplug_metric_names()
    {
        var normaliser = new Normaliser(new MappingProfile
        {
            Sensors = { ["temperature"] = new SensorProfile { Aliases = ["Motor/Temp"], Unit = "degC" } },
        });
        var result = normaliser.Normalise(new TelemetryMessage(1, Now, [new SensorReading(SparkplugHost.SensorName("Motor/Temp"), 212, "degF")]));
        var reading = Assert.Single(((TelemetryMessage)result.Message!).Readings);
        Assert.Equal(("temperature", "degC"), (reading.Sensor, reading.Unit));
        Assert.Equal(100, reading.Value, 9);
    }

    [Theory]
    [InlineData("spBv1.0/plant-a/NBIRTH/edge-1", "Publish", true)]
    [InlineData("spBv1.0/plant-a/DDATA/edge-1/press-1", "Publish", true)]
    [InlineData("spBv1.0/plant-a/DDATA/edge-1/press-2", "Publish", false)]
    [InlineData("spBv1.0/plant-a/NDATA/edge-2", "Publish", false)]
    [InlineData("spBv1.0/plant-b/NDATA/edge-1", "Publish", false)]
    [InlineData("spBv1.0/plant-a/NCMD/edge-1", "Publish", false)]
    [InlineData("spBv1.0/STATE/twin-gateway", "Publish", false)]
    [InlineData("spBv1.0/plant-a/NCMD/edge-1", "Receive", true)]
    [InlineData("spBv1.0/plant-a/NCMD/edge-1/#", "Subscribe", true)]
    [InlineData("spBv1.0/plant-a/NCMD/edge-2", "Receive", false)]
    [InlineData("spBv1.0/plant-a/DCMD/edge-1/press-1", "Receive", true)]
    [InlineData("spBv1.0/plant-a/DCMD/edge-1/#", "Subscribe", true)]
    [InlineData("spBv1.0/plant-a/DCMD/edge-1/press-2", "Receive", false)]
    [InlineData("spBv1.0/plant-a/NDATA/edge-1", "Receive", false)]
    [InlineData("spBv1.0/plant-a/#", "Subscribe", false)]
    [InlineData("spBv1.0/+/NCMD/edge-1", "Subscribe", false)]
    [InlineData("spBv1.0/STATE/twin-gateway", "Subscribe", true)]
    [InlineData("spBv1.0/STATE/#", "Subscribe", false)]
    [InlineData("spBv1.0/line-7/NDATA/edge-1", "Publish", true)]
    [InlineData("spBv1.0/plant-a-old/NDATA/edge-1", "Publish", false)]
    public void An_edge_account_uses_only_its_factorys_groups_its_nodes_and_its_devices(string topic, string access, bool allowed)
    {
        var device = new DeviceCredential { Username = "edge", Password = "password", Factory = "plant-a", Machines = ["press-1"], EdgeNodes = ["edge-1"] };
        var options = new SparkplugOptions { Factories = { ["line-7"] = "plant-a", ["plant-a-old"] = "plant-z" } };
        Assert.Equal(allowed, EmbeddedBroker.MaySparkplug(device, topic, Enum.Parse<EmbeddedBroker.Access>(access), options));
        Assert.False(EmbeddedBroker.MaySparkplug(new DeviceCredential { Factory = "plant-a", Machines = ["*"] }, topic, Enum.Parse<EmbeddedBroker.Access>(access), options), "no EdgeNodes, no Sparkplug");
    }
}
