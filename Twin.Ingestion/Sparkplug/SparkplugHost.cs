using System.Collections.Immutable;
using System.Globalization;
using Google.Protobuf;
using Twin.Ingestion.Sparkplug.Protocol;
using Twin.Machines;
using Metric = Twin.Ingestion.Sparkplug.Protocol.Payload.Types.Metric;

namespace Twin.Ingestion.Sparkplug;

/// <summary>A message decoded from Sparkplug for one machine twin.</summary>
public readonly record struct SparkplugReading(string Factory, string Machine, MachineMessage Message)
{
    public string GrainKey => TwinKey.Compose(Factory, Machine);

    /// <summary>For telemetry, the metric name of each reading (same order), to name it in a dead letter.</summary>
    public ImmutableArray<string> Metrics { get; init; }
}

/// <summary>One metric of a message refused on its own (the others are taken): the reason names it; the metric as JSON.</summary>
public sealed record SparkplugRefusal(string Reason, string Text);

/// <summary>A message the host publishes in answer (a rebirth request).</summary>
public sealed record SparkplugCommand(string Topic, byte[] Payload);

/// <summary>
/// What one Sparkplug message came to: machine messages for the pipeline, or the reason it is a
/// dead letter; and maybe a command to publish. <see cref="Text"/> is the payload as JSON, for the dead letter.
/// </summary>
public sealed record SparkplugOutcome(string Factory, IReadOnlyList<SparkplugReading> Messages, string? Rejection, SparkplugCommand? Command, string Text)
{
    /// <summary>Not data: commands and host states (ours or another host's), acknowledged and left alone.</summary>
    public static readonly SparkplugOutcome Ignored = new("", [], null, null, "");

    /// <summary>Nothing for a twin and nothing to keep: acknowledge it.</summary>
    public bool IsIgnored => Rejection is null && Messages.Count == 0 && Refused.Count == 0;

    /// <summary>Metrics refused one by one (not a number, out of range…), each a dead letter of its own, beside <see cref="Messages"/>.</summary>
    public IReadOnlyList<SparkplugRefusal> Refused { get; init; } = [];

    /// <summary>What the caller passed with the message this is the outcome of (its MQTT message, to acknowledge).</summary>
    public object? Token { get; init; }
}

/// <summary>
/// The Sparkplug B 3.0 host application's decoder stage: bytes in, the pipeline's
/// <see cref="MachineMessage"/>s out. It keeps per edge node the session (bdSeq, the expected
/// <c>seq</c>), the metric catalogue of the node and of each device (names, aliases, data types,
/// engineering units) from the births, and numbers the messages for the twins' dedup.
/// Data it cannot take (before a birth, an unknown alias, after a sequence gap) is refused with a
/// reason and answered with a rebirth request. Not thread-safe: one reader calls it, in arrival order.
/// </summary>
/// <remarks>
/// Sequence numbers for the twins: per edge node, a counter that starts at each NBIRTH from
/// <c>max(birth timestamp in ms × 2^20, the node's last number + 1)</c> and counts every machine
/// message of the node's session. It grows across Sparkplug's 0–255 wrap and across rebirths,
/// and, because it starts from the birth time, across gateway restarts (as long as the edge
/// node's clock does not go back). A redelivered message (its <c>seq</c> just behind the expected
/// one) is given the numbers it had the first time, so the twin recognises it as a duplicate.
/// All messages go under the source <see cref="Source"/>, so they never collide with the
/// numbers of the JSON contract for the same machine.
/// </remarks>
public sealed class SparkplugHost(SparkplugOptions options, PayloadLimits limits)
{
    /// <summary>The source (the twins' sequence window, the statistics' tag) of every Sparkplug message.</summary>
    public const string Source = "sparkplug";

    /// <summary>Metric names that steer the edge node, never sensors.</summary>
    private static readonly string[] ControlPrefixes = ["Node Control/", "Device Control/", "Properties/", "Node Info/"];

    private const int NumberShift = 20;

    private static readonly JsonFormatter Json = new(JsonFormatter.Settings.Default.WithFormatDefaultValues(false));

    private readonly Dictionary<string, NodeSession> _nodes = new(StringComparer.Ordinal);
    private readonly Dictionary<string, long> _nextNumbers = new(StringComparer.Ordinal);
    private readonly Dictionary<string, DateTimeOffset> _rebirthRequested = new(StringComparer.Ordinal);
    private readonly List<SparkplugOutcome> _released = [];
    private int _holding;

    /// <summary>Most messages of one node held back while a <c>seq</c> is missing; one more is a gap.</summary>
    public const int MaxHeld = 64;

    /// <summary>Edge nodes with a session (a birth seen, no death since).</summary>
    public int Nodes => _nodes.Count;

    /// <summary>Edge nodes with messages held back, waiting for a missing <c>seq</c> (see <see cref="Expire"/>).</summary>
    public bool Holding => _holding > 0;

    /// <summary>
    /// Decodes one message. Usually one outcome comes back, for it; none while it is held back
    /// (it came ahead of a missing <c>seq</c>), and more when it was the missing one and releases
    /// the held ones. Each outcome carries the <paramref name="token"/> its message came with.
    /// </summary>
    /// <param name="oversizedSeq">
    /// For a payload over <see cref="PayloadLimits.MaxPayloadBytes"/> (of which <paramref name="bytes"/>
    /// is only the start), its <c>seq</c> as <see cref="PeekSeq"/> read it from the whole payload:
    /// the message is refused, but it keeps its place in the node's sequence.
    /// </param>
    public IReadOnlyList<SparkplugOutcome> Handle(string topicText, ReadOnlySpan<byte> bytes, long length, DateTimeOffset now, object? token = null, ulong? oversizedSeq = null)
    {
        _released.Clear();
        var outcome = HandleOne(topicText, bytes, length, now, token, oversizedSeq);
        var results = new List<SparkplugOutcome>(1 + _released.Count);
        if (outcome is not null)
        {
            results.Add(outcome with { Token = token });
        }

        results.AddRange(_released);
        return results;
    }

    /// <summary>
    /// Messages held back longer than <see cref="SparkplugOptions.ReorderTimeout"/>: the missing
    /// <c>seq</c> did not come, so it is a gap: the held messages are refused and a rebirth requested.
    /// </summary>
    public IReadOnlyList<SparkplugOutcome> Expire(DateTimeOffset now)
    {
        var results = new List<SparkplugOutcome>();
        foreach (var (key, session) in _nodes)
        {
            if (session.HeldSince is { } since && now - since >= options.ReorderTimeout)
            {
                var first = session.Held.Values.OrderBy(h => (h.Seq - session.Expected + 256) % 256).First();
                var missing = (first.Seq - session.Expected + 256) % 256;
                session.Broken = $"expected seq {session.Expected}, got {first.Seq} ({missing} message(s) missing for {options.ReorderTimeout.TotalSeconds:0.###} s) at {now:HH:mm:ss.fff}";
                var c = first.Context with { Now = now };
                results.Add(RejectAndRebirth(c, $"sparkplug.seq-gap: {session.Broken}; rebirth requested", session) with { Token = first.Context.Token });
                session.Held.Remove(first.Seq);
                FlushHeld(session, results);
            }
        }

        return results;
    }

    private SparkplugOutcome? HandleOne(string topicText, ReadOnlySpan<byte> bytes, long length, DateTimeOffset now, object? token, ulong? oversizedSeq)
    {
        if (!SparkplugTopic.TryParse(topicText, out var topic, out var topicError))
        {
            return Reject(IngestPipeline.UnroutedFactory, topicError, "");
        }

        if (topic.Type is SparkplugMessageType.NCMD or SparkplugMessageType.DCMD or SparkplugMessageType.STATE)
        {
            return SparkplugOutcome.Ignored;
        }

        var factory = options.FactoryOf(topic.Group);
        if (!TwinKey.IsWritableFactory(factory, out var idError))
        {
            return Reject(IngestPipeline.UnroutedFactory, $"topic.factory: group '{Truncate(topic.Group)}': {idError}", "");
        }

        if (length > limits.MaxPayloadBytes)
        {
            return TooLarge(topic, factory, $"payload.too-large: {length} bytes, the limit is {limits.MaxPayloadBytes} (Twin:Ingest:MaxPayloadBytes)", oversizedSeq, now, token);
        }

        if (bytes.IsEmpty)
        {
            return Reject(factory, "payload.empty: the payload is empty", "");
        }

        Payload payload;
        try
        {
            payload = Payload.Parser.ParseFrom(bytes);
        }
        catch (InvalidProtocolBufferException ex)
        {
            return Reject(factory, $"payload.malformed: not a Sparkplug B payload ({ex.Message})", IngestPipeline.Text(bytes.ToArray()));
        }

        if (payload.HasUuid && payload.Uuid == CompressedUuid)
        {
            // Eclipse Tahu's compression: the real payload, DEFLATE (zlib) or GZIP, in the body.
            var algorithm = payload.Metrics.FirstOrDefault(m => m.Name == "algorithm" && m.ValueCase == Metric.ValueOneofCase.StringValue)?.StringValue ?? "DEFLATE";
            var outer = payload;
            if (Decompress(outer.Body.Span, algorithm, DecompressedCap, out var inner) is { } error)
            {
                return Reject(factory, $"payload.malformed: a compressed Sparkplug payload ({algorithm}) that does not decompress: {error}", Describe(outer));
            }

            if (inner.Length > limits.MaxPayloadBytes)
            {
                // The limit is the decoded payload's: a compressed one counts as decompressed.
                return TooLarge(topic, factory, $"payload.too-large: {inner.Length} bytes decompressed ({algorithm}), the limit is {limits.MaxPayloadBytes} (Twin:Ingest:MaxPayloadBytes)", PeekSeq(new System.Buffers.ReadOnlySequence<byte>(inner)) ?? (outer.HasSeq ? outer.Seq : null), now, token);
            }

            try
            {
                payload = Payload.Parser.ParseFrom(inner);
            }
            catch (InvalidProtocolBufferException ex)
            {
                return Reject(factory, $"payload.malformed: the decompressed payload ({algorithm}) is not a Sparkplug B payload ({ex.Message})", Describe(outer));
            }

            if (!payload.HasSeq && outer.HasSeq)
            {
                payload.Seq = outer.Seq;
            }
        }

        var context = new Context(topic, factory, payload, now, token);
        return topic.Type switch
        {
            SparkplugMessageType.NBIRTH => NodeBirth(context),
            SparkplugMessageType.NDEATH => NodeDeath(context),
            _ => InSession(context),
        };
    }

    /// <summary>
    /// The <c>seq</c> of a Sparkplug payload (field 3 at the top level), read without decoding the
    /// rest: for payloads too large to decode, so they keep their place in the node's sequence.
    /// Null when the bytes are not protobuf or carry no seq.
    /// </summary>
    public static ulong? PeekSeq(System.Buffers.ReadOnlySequence<byte> payload)
    {
        var reader = new System.Buffers.SequenceReader<byte>(payload);
        ulong? seq = null;
        while (!reader.End)
        {
            if (ReadVarint(ref reader) is not { } tag)
            {
                return null;
            }

            switch (tag & 7)
            {
                case 0:
                    if (ReadVarint(ref reader) is not { } value)
                    {
                        return null;
                    }

                    if (tag >> 3 == 3)
                    {
                        seq = value;
                    }

                    break;
                case 1:
                    if (reader.Remaining < 8)
                    {
                        return null;
                    }

                    reader.Advance(8);
                    break;
                case 2:
                    if (ReadVarint(ref reader) is not { } length || (ulong)reader.Remaining < length)
                    {
                        return null;
                    }

                    reader.Advance((long)length);
                    break;
                case 5:
                    if (reader.Remaining < 4)
                    {
                        return null;
                    }

                    reader.Advance(4);
                    break;
                default:
                    return null;
            }
        }

        return seq;
    }

    private static ulong? ReadVarint(ref System.Buffers.SequenceReader<byte> reader)
    {
        ulong value = 0;
        for (var shift = 0; shift < 64; shift += 7)
        {
            if (!reader.TryRead(out var b))
            {
                return null;
            }

            value |= (ulong)(b & 0x7F) << shift;
            if (b < 0x80)
            {
                return value;
            }
        }

        return null;
    }

    /// <summary>The <c>uuid</c> of a compressed payload (Eclipse Tahu): its body is the real payload, compressed.</summary>
    public const string CompressedUuid = "SPBV1.0_COMPRESSED";

    /// <summary>Most bytes a compressed body may decompress to before it counts as a bomb (beyond it the seq is not read either).</summary>
    private int DecompressedCap => (int)Math.Min(int.MaxValue / 2, 16L * limits.MaxPayloadBytes);

    /// <summary>A payload too large to decode: refused, in its place in the node's sequence when its seq is known.</summary>
    private SparkplugOutcome? TooLarge(SparkplugTopic topic, string factory, string reason, ulong? seq, DateTimeOffset now, object? token)
    {
        if (seq is { } known && topic.Type is not (SparkplugMessageType.NBIRTH or SparkplugMessageType.NDEATH))
        {
            // The node's other messages go on.
            return InSession(new Context(topic, factory, new Payload { Seq = known }, now, token) { Oversized = reason });
        }

        return Reject(factory, reason, "");
    }

    /// <summary>Decompresses a body by its algorithm (DEFLATE as zlib, as Tahu writes it, or raw; GZIP), at most <paramref name="cap"/> bytes; the error, or null.</summary>
    internal static string? Decompress(ReadOnlySpan<byte> body, string algorithm, int cap, out byte[] inner)
    {
        inner = [];
        var kind = algorithm.ToUpperInvariant();
        if (kind is not ("DEFLATE" or "GZIP"))
        {
            return $"unknown algorithm '{Truncate(algorithm)}' (DEFLATE or GZIP)";
        }

        var bytes = body.ToArray();
        string? error = null;
        foreach (var attempt in kind == "GZIP" ? [0] : new[] { 1, 2 })
        {
            try
            {
                using var input = new MemoryStream(bytes, writable: false);
                using System.IO.Stream stream = attempt switch
                {
                    0 => new System.IO.Compression.GZipStream(input, System.IO.Compression.CompressionMode.Decompress),
                    1 => new System.IO.Compression.ZLibStream(input, System.IO.Compression.CompressionMode.Decompress),
                    _ => new System.IO.Compression.DeflateStream(input, System.IO.Compression.CompressionMode.Decompress),
                };
                using var output = new MemoryStream();
                var buffer = new byte[16 * 1024];
                int read;
                while ((read = stream.Read(buffer, 0, buffer.Length)) > 0)
                {
                    if (output.Length + read > cap)
                    {
                        return $"it decompresses to more than {cap} bytes";
                    }

                    output.Write(buffer, 0, read);
                }

                if (output.Length > 0)
                {
                    inner = output.ToArray();
                    return null;
                }

                error ??= "it decompresses to nothing";
            }
            catch (InvalidDataException ex)
            {
                // zlib first (Tahu's DEFLATE), then raw DEFLATE.
                error ??= ex.Message;
            }
        }

        return error;
    }

    /// <summary>The rebirth request to an edge node (specification 6.4.1: <c>Node Control/Rebirth</c> = true).</summary>
    public static SparkplugCommand RebirthCommand(string group, string node, DateTimeOffset now)
    {
        var ms = (ulong)now.ToUnixTimeMilliseconds();
        var payload = new Payload { Timestamp = ms };
        payload.Metrics.Add(new Metric { Name = "Node Control/Rebirth", Timestamp = ms, Datatype = (uint)DataType.Boolean, BooleanValue = true });
        return new SparkplugCommand(SparkplugTopic.NodeCommandTopic(group, node), payload.ToByteArray());
    }

    /// <summary>The host's STATE payload (specification 3.0, 7.4): <c>{"online":…,"timestamp":…}</c>.</summary>
    public static byte[] StatePayload(bool online, DateTimeOffset timestamp) =>
        System.Text.Encoding.UTF8.GetBytes(string.Create(CultureInfo.InvariantCulture, $"{{\"online\":{(online ? "true" : "false")},\"timestamp\":{timestamp.ToUnixTimeMilliseconds()}}}"));

    /// <summary>A metric name as a sensor name of the contract: <c>/</c> becomes <c>.</c>, other characters a sensor name cannot have become <c>_</c>.</summary>
    public static string SensorName(string metric) => SensorNames.FromPath(metric);

    // Edge nodes whose own twin a death marked offline, to bring back at their next birth.
    private readonly HashSet<string> _departed = new(StringComparer.Ordinal);

    private SparkplugOutcome NodeBirth(Context c)
    {
        var key = NodeKey(c.Topic);
        var bdSeq = BdSeq(c.Payload);
        if (bdSeq is null)
        {
            return Reject(c.Factory, "sparkplug.birth-invalid: an NBIRTH needs the bdSeq metric (UInt64)", Describe(c.Payload));
        }

        var catalogue = new Catalogue();
        if (catalogue.Learn(c.Payload.Metrics) is { } learnError)
        {
            return Reject(c.Factory, $"sparkplug.birth-invalid: {learnError}", Describe(c.Payload));
        }

        var birthMs = c.Payload.HasTimestamp ? (long)Math.Min(c.Payload.Timestamp, long.MaxValue >> NumberShift) : c.Now.ToUnixTimeMilliseconds();
        if (_nodes.TryGetValue(key, out var previous))
        {
            // Held back for a seq of the old session that will never come now.
            previous.Broken = $"a new NBIRTH at {c.Now:HH:mm:ss.fff}";
            FlushHeld(previous, _released);
        }

        _nextNumbers.TryGetValue(key, out var next);
        var session = new NodeSession(bdSeq.Value, catalogue)
        {
            Expected = (int)(((c.Payload.HasSeq ? c.Payload.Seq : 0) + 1) % 256),
            Next = Math.Max(next, birthMs << NumberShift),
        };
        _nodes[key] = session;
        _rebirthRequested.Remove(key);
        // A new birth forgets the node's devices, and with them the machines they fed.
        ReleaseAll(key);
        if (!options.NodeMetrics)
        {
            return new SparkplugOutcome(c.Factory, [], null, null, "");
        }

        if (TwinKey.IsValidId(c.Topic.Node, out _) && Claim(c, c.Topic.Node) is { } conflict)
        {
            // The session stands (its devices may go on); only the node's own metrics have no twin.
            session.NodeConflict = conflict;
            return Reject(c.Factory, $"{conflict.Reason}; the node's own metrics are refused", Describe(c.Payload));
        }

        var birth = Readings(c, session, catalogue, c.Topic.Node, first: null);
        if (_departed.Remove(key) && birth.Rejection is null && birth.Messages.Count == 0)
        {
            // A node that died and is born again without metrics of its own still comes back: an
            // empty reading tells its twin it is heard from again.
            var hello = new SparkplugReading(c.Factory, c.Topic.Node, new TelemetryMessage(session.Next++, Timestamp(c.Payload.HasTimestamp ? c.Payload.Timestamp : null, c.Now), []) { Source = Source });
            _nextNumbers[key] = session.Next;
            return birth with { Messages = [hello] };
        }

        return birth;
    }

    private SparkplugOutcome NodeDeath(Context c)
    {
        var key = NodeKey(c.Topic);
        var bdSeq = BdSeq(c.Payload);
        if (!_nodes.TryGetValue(key, out var session))
        {
            return Reject(c.Factory, $"sparkplug.stale-death: NDEATH (bdSeq {Show(bdSeq)}) for an edge node without a session here (no NBIRTH seen)", Describe(c.Payload));
        }

        if (bdSeq != session.BdSeq)
        {
            // The will of an earlier connection, delivered after the node was born again.
            return Reject(c.Factory, $"sparkplug.stale-death: NDEATH bdSeq {Show(bdSeq)} does not match the NBIRTH's bdSeq {session.BdSeq}", Describe(c.Payload));
        }

        _nodes.Remove(key);
        session.Broken = $"the NDEATH at {c.Now:HH:mm:ss.fff}";
        FlushHeld(session, _released);
        var messages = new List<SparkplugReading>();
        var at = c.Now;
        if (options.NodeMetrics && TwinKey.IsValidId(c.Topic.Node, out _) && session.NodeConflict is null)
        {
            // Only the machines this session fed: another node's session may feed a machine of the same name.
            messages.Add(new SparkplugReading(c.Factory, c.Topic.Node, new OfflineMessage(session.Next++, at, "sparkplug.ndeath") { Source = Source }));
            _departed.Add(key);
        }

        ReleaseAll(key);

        // Devices with a DBIRTH: their ids are machine ids (a DBIRTH of another id was refused).
        foreach (var device in session.Devices.Keys)
        {
            messages.Add(new SparkplugReading(c.Factory, device, new OfflineMessage(session.Next++, at, "sparkplug.ndeath") { Source = Source }));
        }

        _nextNumbers[key] = session.Next;
        return new SparkplugOutcome(c.Factory, messages, null, null, "");
    }

    /// <summary>DBIRTH, DDEATH, NDATA, DDATA: need the node's session and the next <c>seq</c>.</summary>
    private SparkplugOutcome? InSession(Context c)
    {
        var key = NodeKey(c.Topic);
        if (!_nodes.TryGetValue(key, out var session))
        {
            return RejectAndRebirth(c, $"sparkplug.before-birth: {c.Topic.Type} from an edge node without a session here (no NBIRTH seen); rebirth requested");
        }

        if (!c.Payload.HasSeq || c.Payload.Seq > 255)
        {
            return RejectAndRebirth(c, $"sparkplug.seq-invalid: {c.Topic.Type} needs a seq from 0 to 255; rebirth requested", session);
        }

        var seq = (int)c.Payload.Seq;
        long? first = null;
        var distance = (seq - session.Expected + 256) % 256;
        if (distance >= 128 && session.Recent[seq] is { } earlier)
        {
            // Just behind the expected seq: a redelivery (the broker sends unacknowledged messages
            // again after a reconnect). Decoded again with the numbers it had, so the twin dedups.
            first = earlier;
        }
        else if (session.AwaitingRebirth)
        {
            return RejectAndRebirth(c, $"sparkplug.awaiting-rebirth: {c.Topic.Type} seq {seq} before the requested rebirth (since: {session.Broken})", session);
        }
        else if (distance != 0 && distance < 128 && session.Held.ContainsKey(seq))
        {
            // The broker sent a held message again (after a reconnect): the new copy is held in its
            // place, so what is acknowledged, once durable, is the copy of the current connection.
            session.Held[seq] = new Held(seq, c);
            return null;
        }
        else if (distance != 0 && distance < 128 && options.ReorderTimeout > TimeSpan.Zero && session.Held.Count < MaxHeld)
        {
            // Ahead of a missing seq: held back for a while, in case the missing one is only late
            // (Sparkplug 3.0's reorder timeout), then released in order or refused as a gap.
            session.Held[seq] = new Held(seq, c);
            if (session.HeldSince is null)
            {
                session.HeldSince = c.Now;
                _holding++;
            }

            return null;
        }
        else if (distance != 0)
        {
            var missing = distance < 128 ? $"{distance} message(s) missing" : "out of order";
            session.Broken = $"expected seq {session.Expected}, got {seq} ({missing}) at {c.Now:HH:mm:ss.fff}";
            return RejectAndRebirth(c, $"sparkplug.seq-gap: {session.Broken}; rebirth requested", session);
        }

        if (first is null)
        {
            session.Expected = (seq + 1) % 256;
            session.Recent[seq] = session.Next;
        }

        var outcome = Apply(c, session, first);
        if (first is null && session.Held.Remove(session.Expected, out var held))
        {
            // The missing one came: what was held back behind it goes on, in order.
            if (session.Held.Count == 0)
            {
                Release(session);
            }

            // Its slot first: the ones it releases in turn come after it.
            var slot = _released.Count;
            _released.Add(SparkplugOutcome.Ignored);
            _released[slot] = (InSession(held.Context) ?? SparkplugOutcome.Ignored) with { Token = held.Context.Token };
        }
        else if (session.Held.Count == 0 && session.HeldSince is not null)
        {
            Release(session);
        }

        return outcome;
    }

    private void Release(NodeSession session)
    {
        session.HeldSince = null;
        _holding--;
    }

    /// <summary>Refuses every message a session holds back (its wait ended without the missing seq).</summary>
    private void FlushHeld(NodeSession session, List<SparkplugOutcome> into)
    {
        foreach (var held in session.Held.Values.OrderBy(h => (h.Seq - session.Expected + 256) % 256))
        {
            into.Add(Reject(held.Context.Factory, $"sparkplug.awaiting-rebirth: {held.Context.Topic.Type} seq {held.Seq} held back for a missing seq (since: {session.Broken})", Describe(held.Context.Payload)) with { Token = held.Context.Token });
        }

        session.Held.Clear();
        if (session.HeldSince is not null)
        {
            Release(session);
        }
    }

    /// <summary>A message of the session, in order: what it does to the catalogue, and its machine messages.</summary>
    private SparkplugOutcome Apply(Context c, NodeSession session, long? first)
    {
        var device = c.Topic.Device;
        if (c.Oversized is { } tooLarge && c.Topic.Type != SparkplugMessageType.DDEATH)
        {
            if (c.Topic.Type == SparkplugMessageType.DBIRTH && device is not null)
            {
                // Its catalogue is unknown: the device is not born, and its data say why (no rebirth
                // is asked for: the same birth would come again).
                session.Devices.Remove(device);
                session.Refused[device] = $"its DBIRTH was refused at {c.Now:HH:mm:ss.fff} ({tooLarge})";
                return Reject(c.Factory, $"{tooLarge}; the device '{Truncate(device)}' cannot be born (its data are refused until a DBIRTH within the limit): raise the limit", "");
            }

            return Reject(c.Factory, tooLarge, "");
        }

        switch (c.Topic.Type)
        {
            case SparkplugMessageType.DBIRTH:
            {
                if (!TwinKey.IsValidId(device, out var deviceError))
                {
                    return Reject(c.Factory, $"topic.machine: device '{Truncate(device)}': {deviceError}", Describe(c.Payload));
                }

                session.Refused.Remove(device!);
                session.Conflicts.Remove(device!);
                if (Claim(c, device!) is { } conflict)
                {
                    session.Devices.Remove(device!);
                    session.Conflicts[device!] = conflict;
                    return Reject(c.Factory, conflict.Reason, Describe(c.Payload));
                }

                var catalogue = new Catalogue();
                if (catalogue.Learn(c.Payload.Metrics) is { } learnError)
                {
                    session.Devices.Remove(device!);
                    Release(c, device!);
                    return Reject(c.Factory, $"sparkplug.birth-invalid: {learnError}", Describe(c.Payload));
                }

                session.Devices[device!] = catalogue;
                return Readings(c, session, catalogue, device!, first);
            }

            case SparkplugMessageType.DDEATH:
            {
                if (!session.Devices.Remove(device!))
                {
                    // No DBIRTH in this session (or refused): nothing of it is in a twin to take offline.
                    return new SparkplugOutcome(c.Factory, [], null, null, "");
                }

                Release(c, device!);
                var number = first ?? session.Next++;
                var at = Timestamp(c.Payload.HasTimestamp ? c.Payload.Timestamp : null, c.Now);
                return new SparkplugOutcome(c.Factory, [new SparkplugReading(c.Factory, device!, new OfflineMessage(number, at, "sparkplug.ddeath") { Source = Source })], null, null, "");
            }

            case SparkplugMessageType.NDATA:
                if (!options.NodeMetrics)
                {
                    return new SparkplugOutcome(c.Factory, [], null, null, "");
                }

                if (session.NodeConflict is { } nodeConflict)
                {
                    return Conflicted(c, session, nodeConflict, c.Topic.Node);
                }

                return Readings(c, session, session.Node, c.Topic.Node, first);

            default:
                if (!session.Devices.TryGetValue(device!, out var known))
                {
                    if (session.Conflicts.TryGetValue(device!, out var deviceConflict))
                    {
                        return Conflicted(c, session, deviceConflict, device!);
                    }

                    if (session.Refused.TryGetValue(device!, out var why))
                    {
                        return Reject(c.Factory, $"sparkplug.device-refused: DDATA from device '{Truncate(device!)}', which has no birth in this session: {why}", Describe(c.Payload));
                    }

                    return RejectAndRebirth(c, $"sparkplug.before-birth: DDATA from device '{Truncate(device!)}' without a DBIRTH in this session; rebirth requested", session);
                }

                return Readings(c, session, known, device!, first);
        }
    }

    /// <summary>
    /// The numeric metrics of a birth or data message as telemetry: one message per distinct
    /// timestamp, and per <see cref="PayloadLimits.MaxValuesPerMessage"/> metrics, so a birth of any
    /// size is delivered whole. A metric that cannot be a reading (not a finite number, beyond ±1e15,
    /// too far ahead of the clock, a second metric for the same sensor) is refused on its own; the
    /// others are taken.
    /// </summary>
    private SparkplugOutcome Readings(Context c, NodeSession session, Catalogue catalogue, string machine, long? first)
    {
        if (!TwinKey.IsValidId(machine, out var idError))
        {
            // The session goes on (its seq was taken): only this id names no twin.
            return Reject(c.Factory, $"topic.machine: {(c.Topic.Device is null ? "edge node" : "device")} '{Truncate(machine)}': {idError}", Describe(c.Payload));
        }

        var payloadTime = Timestamp(c.Payload.HasTimestamp ? c.Payload.Timestamp : null, c.Now);
        var groups = new List<(DateTimeOffset At, List<(SensorReading Reading, string Metric)> Readings)>();
        var sensors = new Dictionary<string, string>(StringComparer.Ordinal);
        List<SparkplugRefusal>? refused = null;
        foreach (var metric in c.Payload.Metrics)
        {
            var definition = catalogue.Resolve(metric);
            if (definition is null)
            {
                // The catalogue and the node disagree: nothing of the message can be trusted to mean what the birth said.
                var which = metric.HasAlias ? $"alias {metric.Alias}" : $"metric '{Truncate(metric.Name)}'";
                return RejectAndRebirth(c, $"sparkplug.unknown-alias: {which} is not in the birth of {c.Topic.Type switch { SparkplugMessageType.NDATA => "the edge node", _ => "the device" }}; rebirth requested", session);
            }

            if (definition.Control || metric.IsNull || Number(metric, definition.Type) is not { } value)
            {
                continue;
            }

            var name = $"metric '{Truncate(definition.Name)}'";
            var at = metric.HasTimestamp ? Timestamp(metric.Timestamp, c.Now) : payloadTime;
            var refusal = definition.Refusal
                ?? (!double.IsFinite(value) ? $"values.not-number: {name} is not a finite number"
                : Math.Abs(value) > PayloadParser.MaxMagnitude ? $"values.out-of-range: {name} is {value.ToString("G17", CultureInfo.InvariantCulture)}; values beyond ±1e15 are refused"
                : limits.Future(at, c.Now, name) is { } future ? future
                : sensors.TryGetValue(definition.Sensor, out var other) ? $"values.duplicate: {name} and metric '{Truncate(other)}' of the same message both give the sensor '{definition.Sensor}'; the first is taken"
                : null);
            if (refusal is not null)
            {
                (refused ??= []).Add(new SparkplugRefusal(refusal, Describe(metric)));
                continue;
            }

            sensors[definition.Sensor] = definition.Name;
            var group = groups.FindIndex(g => g.At == at && g.Readings.Count < limits.MaxValuesPerMessage);
            if (group < 0)
            {
                groups.Add((at, []));
                group = groups.Count - 1;
            }

            groups[group].Readings.Add((new SensorReading(definition.Sensor, value, definition.Unit), definition.Name));
        }

        var number = first ?? session.Next;
        var messages = new List<SparkplugReading>(groups.Count);
        foreach (var (at, readings) in groups)
        {
            messages.Add(new SparkplugReading(c.Factory, machine, new TelemetryMessage(number++, at, [.. readings.Select(r => r.Reading)]) { Source = Source })
            {
                Metrics = [.. readings.Select(r => r.Metric)],
            });
        }

        if (first is null)
        {
            session.Next = number;
            _nextNumbers[NodeKey(c.Topic)] = number;
        }

        return new SparkplugOutcome(c.Factory, messages, null, null, "") { Refused = refused ?? [] };
    }

    /// <summary>
    /// Machine (factory/machine) → the edge node (group/node) whose session feeds it. One machine
    /// is fed by one session at a time: two groups mapped to one factory with the same edge node
    /// id, or two nodes with the same device id, would otherwise mix two sequences in one twin
    /// (each restarting its numbering) and one death would take both offline.
    /// </summary>
    private readonly Dictionary<string, (string Node, DateTimeOffset Since)> _owners = new(StringComparer.Ordinal);

    /// <summary>Why a machine is another session's.</summary>
    private sealed record Conflict(string Owner, string Reason);

    /// <summary>Makes this node's session the one that feeds <paramref name="machine"/>; the conflict when another live session does.</summary>
    private Conflict? Claim(Context c, string machine)
    {
        var key = NodeKey(c.Topic);
        var twin = TwinKey.Compose(c.Factory, machine);
        if (_owners.TryGetValue(twin, out var owner) && owner.Node != key && _nodes.ContainsKey(owner.Node))
        {
            var (group, node) = (owner.Node[..owner.Node.IndexOf('/', StringComparison.Ordinal)], owner.Node[(owner.Node.IndexOf('/', StringComparison.Ordinal) + 1)..]);
            return new Conflict(owner.Node, $"sparkplug.machine-conflict: the machine {twin} is fed by edge node '{Truncate(node)}' of group '{Truncate(group)}' (since {owner.Since:HH:mm:ss.fff}); {c.Topic.Type} of edge node '{Truncate(c.Topic.Node)}' of group '{Truncate(c.Topic.Group)}' would feed it too (their groups map to one factory): give one of them another id, or map its group to another factory (Twin:Sparkplug:Factories)");
        }

        _owners[twin] = (key, c.Now);
        return null;
    }

    private void Release(Context c, string machine)
    {
        var twin = TwinKey.Compose(c.Factory, machine);
        if (_owners.TryGetValue(twin, out var owner) && owner.Node == NodeKey(c.Topic))
        {
            _owners.Remove(twin);
        }
    }

    private void ReleaseAll(string node)
    {
        foreach (var twin in _owners.Where(o => o.Value.Node == node).Select(o => o.Key).ToList())
        {
            _owners.Remove(twin);
        }
    }

    /// <summary>Data of a machine another session fed at this one's birth: refused while it still does; once free, a rebirth claims it.</summary>
    private SparkplugOutcome Conflicted(Context c, NodeSession session, Conflict conflict, string machine)
    {
        var twin = TwinKey.Compose(c.Factory, machine);
        if (_owners.TryGetValue(twin, out var owner) && owner.Node == conflict.Owner && _nodes.ContainsKey(owner.Node))
        {
            return Reject(c.Factory, $"{conflict.Reason} — {c.Topic.Type} refused", Describe(c.Payload));
        }

        return RejectAndRebirth(c, $"sparkplug.before-birth: {c.Topic.Type} for the machine {twin}, which another edge node fed at this node's birth and no longer does; rebirth requested", session);
    }

    private SparkplugOutcome RejectAndRebirth(Context c, string reason, NodeSession? session = null)
    {
        if (session is not null)
        {
            if (!session.AwaitingRebirth && session.Broken.Length == 0)
            {
                session.Broken = Twin.DeadLetters.DeadLetter.ReasonCodeOf(reason) + $" at {c.Now:HH:mm:ss.fff}";
            }

            // Until the new birth nothing of this node can be trusted to line up with the catalogue.
            session.AwaitingRebirth = true;
        }

        var key = NodeKey(c.Topic);
        SparkplugCommand? command = null;
        if (!_rebirthRequested.TryGetValue(key, out var last) || c.Now - last >= options.RebirthInterval)
        {
            _rebirthRequested[key] = c.Now;
            command = RebirthCommand(c.Topic.Group, c.Topic.Node, c.Now);
        }

        return new SparkplugOutcome(c.Factory, [], reason, command, Describe(c.Payload));
    }

    private static SparkplugOutcome Reject(string factory, string reason, string text) => new(factory, [], reason, null, text);

    private static string NodeKey(SparkplugTopic topic) => topic.Group + "/" + topic.Node;

    private static ulong? BdSeq(Payload payload)
    {
        foreach (var metric in payload.Metrics)
        {
            if (metric.Name == "bdSeq")
            {
                return metric.ValueCase switch
                {
                    Metric.ValueOneofCase.LongValue => metric.LongValue,
                    Metric.ValueOneofCase.IntValue => metric.IntValue,
                    _ => null,
                };
            }
        }

        return null;
    }

    private static string Show(ulong? bdSeq) => bdSeq?.ToString(CultureInfo.InvariantCulture) ?? "missing";

    private static DateTimeOffset Timestamp(ulong? ms, DateTimeOffset now) =>
        ms is { } value && value <= 253_402_300_799_999UL ? DateTimeOffset.FromUnixTimeMilliseconds((long)value) : now;

    /// <summary>A metric's value as a number (booleans as 1/0); null for what is not a number (strings, data sets, arrays…).</summary>
    internal static double? Number(Metric metric, DataType type)
    {
        if (type == DataType.Unknown && metric.HasDatatype)
        {
            type = (DataType)metric.Datatype;
        }

        // The birth's type decides (a DATA cannot turn a text metric into a sensor).
        if (type is DataType.String or DataType.Text or DataType.DateTime or DataType.Uuid or DataType.Bytes or DataType.File or DataType.DataSet or DataType.Template)
        {
            return null;
        }

        switch (metric.ValueCase)
        {
            case Metric.ValueOneofCase.IntValue:
            {
                var raw = metric.IntValue;
                return type switch
                {
                    DataType.Int8 => unchecked((sbyte)raw),
                    DataType.Int16 => unchecked((short)raw),
                    DataType.Int32 or DataType.Int64 => unchecked((int)raw),
                    DataType.Boolean => raw != 0 ? 1 : 0,
                    DataType.DateTime or DataType.String or DataType.Text => null,
                    _ => raw,
                };
            }

            case Metric.ValueOneofCase.LongValue:
            {
                var raw = metric.LongValue;
                return type switch
                {
                    DataType.Int8 => unchecked((sbyte)raw),
                    DataType.Int16 => unchecked((short)raw),
                    DataType.Int32 => unchecked((int)raw),
                    DataType.Int64 => unchecked((long)raw),
                    DataType.DateTime => null,
                    _ => raw,
                };
            }

            case Metric.ValueOneofCase.FloatValue:
                return metric.FloatValue;
            case Metric.ValueOneofCase.DoubleValue:
                return metric.DoubleValue;
            case Metric.ValueOneofCase.BooleanValue:
                return metric.BooleanValue ? 1 : 0;
            default:
                return null;
        }
    }

    /// <summary>A Sparkplug payload as JSON text for a dead letter (at most its first 1 KiB); what cannot be decoded as UTF-8 text.</summary>
    public static string Describe(ReadOnlySpan<byte> bytes)
    {
        try
        {
            return Describe(Payload.Parser.ParseFrom(bytes));
        }
        catch (InvalidProtocolBufferException)
        {
            return IngestPipeline.Text(bytes.ToArray());
        }
    }

    private static string Describe(Metric metric) => Bounded(Json.Format(metric));

    private static string Bounded(string json) => json.Length <= Twin.DeadLetters.DeadLetter.MaxPayloadChars ? json : json[..Twin.DeadLetters.DeadLetter.MaxPayloadChars];

    private static string Describe(Payload payload)
    {
        var json = Json.Format(payload);
        return json.Length <= Twin.DeadLetters.DeadLetter.MaxPayloadChars ? json : json[..Twin.DeadLetters.DeadLetter.MaxPayloadChars];
    }

    private static string Truncate(string? text) => text is null ? "" : text.Length <= 40 ? text : string.Concat(text.AsSpan(0, 40), "…");

    private readonly record struct Context(SparkplugTopic Topic, string Factory, Payload Payload, DateTimeOffset Now, object? Token)
    {
        /// <summary>Why the payload was not read (it is too large); its <see cref="Payload"/> then has only its seq.</summary>
        public string? Oversized { get; init; }
    }

    private readonly record struct Held(int Seq, Context Context);

    /// <summary>One edge node's session: from its NBIRTH to its NDEATH (or the next NBIRTH).</summary>
    private sealed class NodeSession(ulong bdSeq, Catalogue node)
    {
        public ulong BdSeq { get; } = bdSeq;

        public Catalogue Node { get; } = node;

        public Dictionary<string, Catalogue> Devices { get; } = new(StringComparer.Ordinal);

        /// <summary>Devices whose DBIRTH was refused in this session (too large), with why: their data are refused without a rebirth request.</summary>
        public Dictionary<string, string> Refused { get; } = new(StringComparer.Ordinal);

        /// <summary>Devices whose machine another session fed at their DBIRTH.</summary>
        public Dictionary<string, Conflict> Conflicts { get; } = new(StringComparer.Ordinal);

        /// <summary>Set when another session fed the node's own machine at its NBIRTH.</summary>
        public Conflict? NodeConflict { get; set; }

        /// <summary>The seq the next message must carry.</summary>
        public int Expected { get; set; }

        /// <summary>The next number for the twins.</summary>
        public long Next { get; set; }

        /// <summary>After a gap, before the rebirth: data is refused.</summary>
        public bool AwaitingRebirth { get; set; }

        /// <summary>What made the session wait for a rebirth, for the dead letters that follow.</summary>
        public string Broken { get; set; } = "";

        /// <summary>Per seq, the first number its message was given (for redeliveries).</summary>
        public long?[] Recent { get; } = new long?[256];

        /// <summary>Messages that came ahead of a missing seq, by seq.</summary>
        public Dictionary<int, Held> Held { get; } = [];

        /// <summary>Since when messages are held back; null when none are.</summary>
        public DateTimeOffset? HeldSince { get; set; }
    }

    /// <summary>What a metric is, as its birth told.</summary>
    /// <param name="Refusal">Why the birth's metric is refused wherever it comes (it gives the sensor of an earlier metric of the birth); null when it is fine.</param>
    private sealed record Definition(string Name, string Sensor, DataType Type, string? Unit, bool Control, string? Refusal = null);

    /// <summary>The metrics of one birth, by name and by alias.</summary>
    private sealed class Catalogue
    {
        private readonly Dictionary<string, Definition> _byName = new(StringComparer.Ordinal);
        private readonly Dictionary<ulong, Definition> _byAlias = [];

        public string? Learn(IEnumerable<Metric> metrics)
        {
            // Sensor name → the birth's first metric that gives it.
            var sensors = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var metric in metrics)
            {
                if (!metric.HasName || metric.Name.Length == 0)
                {
                    return "every metric of a birth needs a name";
                }

                var control = metric.Name == "bdSeq" || Array.Exists(ControlPrefixes, p => metric.Name.StartsWith(p, StringComparison.Ordinal));
                var sensor = SensorName(metric.Name);
                string? refusal = null;
                if (!control && !sensors.TryAdd(sensor, metric.Name) && sensors[sensor] != metric.Name)
                {
                    // Two metrics for one sensor would overwrite each other's values: the first keeps it.
                    refusal = $"values.duplicate: metric '{Truncate(metric.Name)}' gives the sensor '{sensor}', as does metric '{Truncate(sensors[sensor])}' of the same birth, which feeds it; give one a profile alias of its own";
                }

                var definition = new Definition(
                    metric.Name,
                    sensor,
                    metric.HasDatatype ? (DataType)metric.Datatype : DataType.Unknown,
                    UnitOf(metric),
                    control,
                    refusal);
                _byName[metric.Name] = definition;
                if (metric.HasAlias)
                {
                    if (_byAlias.TryGetValue(metric.Alias, out var other) && other.Name != metric.Name)
                    {
                        return $"alias {metric.Alias} is given to both '{Truncate(other.Name)}' and '{Truncate(metric.Name)}'";
                    }

                    _byAlias[metric.Alias] = definition;
                }
            }

            return null;
        }

        public Definition? Resolve(Metric metric) =>
            metric.HasAlias && _byAlias.TryGetValue(metric.Alias, out var byAlias) ? byAlias
            : metric.HasName && _byName.TryGetValue(metric.Name, out var byName) ? byName
            : null;

        private static string? UnitOf(Metric metric)
        {
            if (metric.Properties is not { } properties)
            {
                return null;
            }

            for (var i = 0; i < properties.Keys.Count && i < properties.Values.Count; i++)
            {
                var key = properties.Keys[i];
                if (string.Equals(key, "engUnit", StringComparison.OrdinalIgnoreCase) || string.Equals(key, "Engineering Units", StringComparison.OrdinalIgnoreCase)
                    || string.Equals(key, "engUnits", StringComparison.OrdinalIgnoreCase) || string.Equals(key, "unit", StringComparison.OrdinalIgnoreCase))
                {
                    var value = properties.Values[i];
                    if (value.ValueCase == Payload.Types.PropertyValue.ValueOneofCase.StringValue && value.StringValue.Length is > 0 and <= 32)
                    {
                        return value.StringValue;
                    }
                }
            }

            return null;
        }
    }
}
