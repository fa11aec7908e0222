using System.Buffers;
using System.Globalization;
using System.Text.Json;
using Twin.Kpis;
using Twin.Lines;
using Twin.Machines;
using Twin.Maintenance;

namespace Twin.Gateway.Uns;

/// <summary>
/// The publish-back topics: where each value of a twin goes under its factory's root and what its
/// payload says. One retained topic per value, named deterministically from the ids (which the
/// contract limits to letters, digits, <c>-</c>, <c>_</c> and <c>.</c>, all safe in a topic level;
/// anything else would become <c>_</c>). Enum values are written as the HTTP API writes them (camelCase).
/// Pure: the publisher diffs what these give against what it published before.
/// </summary>
internal static class UnsLayout
{
    /// <summary>The MQTT 5 user property every publish-back message carries, so ingestion can tell it apart (and leave it out).</summary>
    public const string OriginProperty = "twin-origin";

    public const string OriginValue = "publish-back";

    private static readonly string[] Ratios = ["oee", "availability", "performance", "quality"];
    private static readonly string[] OeeFigures = [.. Ratios, "inputs"];
    private static readonly string[] TicketAges = ["underOneHour", "oneToEightHours", "eightToTwentyFourHours", "overADay"];

    /// <summary>Every topic below a root, <c>+</c> standing for an id (machine, sensor, window…): what ingestion must never take.</summary>
    public static readonly IReadOnlyList<string> Shapes =
    [
        "machine/+/sensor/+",
        "machine/+/status",
        "machine/+/counts/good",
        "machine/+/counts/scrap",
        "machine/+/counts/goodPerMinute",
        "machine/+/workOrder",
        "machine/+/line",
        "machine/+/fault/+/+",
        "machine/+/ticket/+",
        .. OeeFigures.Select(f => $"machine/+/oee/+/{f}"),
        "line/+/status",
        "line/+/throughput",
        "line/+/machines",
        "line/+/bottleneck",
        "line/+/counts/good",
        "line/+/counts/scrap",
        .. Ratios.Select(f => $"line/+/oee/+/{f}"),
        "kpi/openTickets",
        "kpi/openTicketsByAge/+",
        "kpi/mttrMinutes",
        "kpi/mtbfHours",
        "kpi/lateWorkOrders",
        "kpi/stockCoverage/+",
    ];

    /// <summary>A machine's live values (from its stream): sensors, status, counts, work order, line, active faults.</summary>
    public static Dictionary<string, byte[]> Machine(string root, MachineSnapshot machine)
    {
        var at = $"{root}/machine/{Level(machine.Id)}";
        var values = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        foreach (var sensor in machine.Sensors)
        {
            values[$"{at}/sensor/{Level(sensor.Sensor)}"] = Json(w =>
            {
                Number(w, "value", sensor.Value);
                w.WriteString("unit", sensor.Unit);
                w.WriteString("ts", Time(sensor.Timestamp));
                w.WriteString("quality", Name(sensor.Quality));
            });
        }

        values[$"{at}/status"] = Json(w =>
        {
            w.WriteString("value", Name(machine.Status));
            w.WriteString("ts", Time(machine.StatusSince));
        });
        values[$"{at}/counts/good"] = Value(machine.Counts.Good);
        values[$"{at}/counts/scrap"] = Value(machine.Counts.Scrap);
        values[$"{at}/counts/goodPerMinute"] = Value(machine.Counts.GoodPerMinute, "1/min");
        if (machine.CurrentWorkOrder is { } order)
        {
            values[$"{at}/workOrder"] = Value(order);
        }

        if (machine.Line is { } line)
        {
            values[$"{at}/line"] = Value(line);
        }

        foreach (var fault in machine.ActiveFaults)
        {
            values[$"{at}/fault/{Level(fault.Sensor)}/{Level(Name(fault.Kind))}"] = Json(w =>
            {
                w.WriteString("sensor", fault.Sensor);
                w.WriteString("kind", Name(fault.Kind));
                w.WriteString("since", Time(fault.Since));
                Number(w, "value", fault.Value);
            });
        }

        return values;
    }

    /// <summary>
    /// A machine's OEE figures per window: the four ratios and their inputs. The inputs carry the
    /// window's bounds, which move with every read; when only they changed since what is published
    /// (<paramref name="published"/>), that payload is kept, so nothing is sent again.
    /// </summary>
    public static Dictionary<string, byte[]> MachineOee(string root, MachineOee oee, IReadOnlyCollection<string> windows, Func<string, byte[]?>? published = null)
    {
        var values = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        foreach (var window in oee.Windows.Where(w => windows.Count == 0 || windows.Contains(w.Window)))
        {
            var at = $"{root}/machine/{Level(oee.Id)}/oee/{Level(window.Window)}";
            AddRatios(values, at, window.Oee, window.Availability, window.Performance, window.Quality);
            var inputs = Json(w =>
            {
                w.WriteString("from", Time(window.From));
                w.WriteString("to", Time(window.To));
                Number(w, "plannedSeconds", window.PlannedSeconds);
                Number(w, "runSeconds", window.RunSeconds);
                Number(w, "downSeconds", window.DownSeconds);
                Number(w, "idleSeconds", window.IdleSeconds);
                w.WriteNumber("good", window.Good);
                w.WriteNumber("scrap", window.Scrap);
            });
            var topic = $"{at}/inputs";
            values[topic] = published?.Invoke(topic) is { } before && SameBesidesBounds(before, inputs) ? before : inputs;
        }

        return values;
    }

    /// <summary>Whether two inputs payloads differ in their window's <c>from</c> and <c>to</c> only.</summary>
    internal static bool SameBesidesBounds(byte[] a, byte[] b)
    {
        static System.Text.Json.Nodes.JsonObject? Values(byte[] payload)
        {
            try
            {
                if (System.Text.Json.Nodes.JsonNode.Parse(payload) is System.Text.Json.Nodes.JsonObject node)
                {
                    node.Remove("from");
                    node.Remove("to");
                    return node;
                }
            }
            catch (System.Text.Json.JsonException)
            {
            }

            return null;
        }

        return Values(a) is { } x && Values(b) is { } y && System.Text.Json.Nodes.JsonNode.DeepEquals(x, y);
    }

    /// <summary>A machine's open tickets (open, acknowledged, in progress); a resolved or closed one is gone.</summary>
    public static Dictionary<string, byte[]> MachineTickets(string root, string machine, IEnumerable<Ticket> tickets)
    {
        var values = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        foreach (var ticket in tickets.Where(t => t.Status is TicketStatus.Open or TicketStatus.Acknowledged or TicketStatus.InProgress))
        {
            values[$"{root}/machine/{Level(machine)}/ticket/{Level(ticket.Id)}"] = Json(w =>
            {
                w.WriteString("id", ticket.Id);
                w.WriteString("kind", Name(ticket.Kind));
                w.WriteString("status", Name(ticket.Status));
                w.WriteString("openedAt", Time(ticket.OpenedAt));
                w.WriteNumber("escalations", ticket.Escalations);
            });
        }

        return values;
    }

    /// <summary>A line's live view: status, throughput, counts, its machines in flow order.</summary>
    public static Dictionary<string, byte[]> Line(string root, LineSnapshot line)
    {
        var at = $"{root}/line/{Level(line.Id)}";
        return new Dictionary<string, byte[]>(StringComparer.Ordinal)
        {
            [$"{at}/status"] = Value(Name(line.Status)),
            [$"{at}/throughput"] = Value(line.Throughput, "1/min"),
            [$"{at}/counts/good"] = Value(line.Good),
            [$"{at}/counts/scrap"] = Value(line.Scrap),
            [$"{at}/machines"] = Json(w =>
            {
                w.WriteStartArray("value");
                foreach (var machine in line.Machines)
                {
                    w.WriteStringValue(machine.Id);
                }

                w.WriteEndArray();
            }),
        };
    }

    /// <summary>A line's KPIs as the factory's KPI grain keeps them: OEE of its window and its bottleneck.</summary>
    public static Dictionary<string, byte[]> LineKpi(string root, LineKpiReport report)
    {
        var at = $"{root}/line/{Level(report.Line)}";
        var values = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        AddRatios(values, $"{at}/oee/{Level(report.Window)}", report.Oee, report.Availability, report.Performance, report.Quality);
        if (report.Bottleneck is { } bottleneck)
        {
            values[$"{at}/bottleneck"] = Value(bottleneck);
        }

        return values;
    }

    /// <summary>The factory's plant-level KPIs.</summary>
    public static Dictionary<string, byte[]> FactoryKpis(string root, FactoryKpiSnapshot kpis)
    {
        var at = $"{root}/kpi";
        var ages = kpis.OpenTicketsByAge;
        int[] counts = [ages.UnderOneHour, ages.OneToEightHours, ages.EightToTwentyFourHours, ages.OverADay];
        var values = new Dictionary<string, byte[]>(StringComparer.Ordinal)
        {
            [$"{at}/openTickets"] = Value(kpis.OpenTickets),
            [$"{at}/mttrMinutes"] = Value(kpis.MttrMinutes, "min"),
            [$"{at}/mtbfHours"] = Value(kpis.MtbfHours, "h"),
            [$"{at}/lateWorkOrders"] = Json(w =>
            {
                w.WriteNumber("value", kpis.LateWorkOrders.Length);
                w.WriteStartArray("workOrders");
                foreach (var order in kpis.LateWorkOrders)
                {
                    w.WriteStringValue(order.Id);
                }

                w.WriteEndArray();
            }),
        };
        for (var i = 0; i < TicketAges.Length; i++)
        {
            values[$"{at}/openTicketsByAge/{TicketAges[i]}"] = Value(counts[i]);
        }

        foreach (var bin in kpis.StockCoverage)
        {
            values[$"{at}/stockCoverage/{Level(bin.Bin)}"] = Json(w =>
            {
                Number(w, "value", bin.Days);
                w.WriteString("unit", "d");
                w.WriteString("sku", bin.Sku);
                w.WriteNumber("available", bin.Available);
                Number(w, "dailyConsumption", bin.DailyConsumption);
            });
        }

        return values;
    }

    /// <summary>An id or name as one topic level: unchanged when it is a valid id, otherwise with <c>_</c> for what a level cannot hold.</summary>
    public static string Level(string id)
    {
        if (id.Length == 0)
        {
            return "_";
        }

        return id.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.')
            ? id
            : string.Create(id.Length, id, static (span, source) =>
            {
                for (var i = 0; i < span.Length; i++)
                {
                    var c = source[i];
                    span[i] = char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' ? c : '_';
                }
            });
    }

    /// <summary>Whether <paramref name="topic"/> is <paramref name="root"/> or below it (whole levels).</summary>
    public static bool IsWithin(string topic, string root) =>
        topic == root || topic.StartsWith(root + "/", StringComparison.Ordinal);

    /// <summary>
    /// Whether an MQTT filter (<c>+</c>, <c>#</c>; a template's <c>#</c> takes at least one level)
    /// could match a topic of <paramref name="shape"/>, whose <c>+</c> levels may be anything.
    /// </summary>
    public static bool CouldMatch(string filter, string shape)
    {
        var f = filter.Split('/');
        var s = shape.Split('/');
        for (var i = 0; i < f.Length; i++)
        {
            if (f[i] == "#")
            {
                return i < s.Length;
            }

            if (i >= s.Length || (f[i] != "+" && s[i] != "+" && f[i] != s[i]))
            {
                return false;
            }
        }

        return f.Length == s.Length;
    }

    private static void AddRatios(Dictionary<string, byte[]> values, string at, double? oee, double? availability, double? performance, double? quality)
    {
        double?[] ratios = [oee, availability, performance, quality];
        for (var i = 0; i < Ratios.Length; i++)
        {
            values[$"{at}/{Ratios[i]}"] = Value(ratios[i]);
        }
    }

    private static byte[] Value(double? value, string? unit = null) => Json(w =>
    {
        Number(w, "value", value);
        if (unit is not null)
        {
            w.WriteString("unit", unit);
        }
    });

    private static byte[] Value(long value) => Json(w => w.WriteNumber("value", value));

    private static byte[] Value(string value) => Json(w => w.WriteString("value", value));

    private static void Number(Utf8JsonWriter writer, string name, double? value)
    {
        if (value is { } v && double.IsFinite(v))
        {
            writer.WriteNumber(name, v);
        }
        else
        {
            writer.WriteNull(name);
        }
    }

    private static string? Time(DateTimeOffset? at) =>
        at?.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture);

    private static string Name<T>(T value)
        where T : struct, Enum => JsonNamingPolicy.CamelCase.ConvertName(value.ToString());

    private static byte[] Json(Action<Utf8JsonWriter> write)
    {
        var buffer = new ArrayBufferWriter<byte>(128);
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            write(writer);
            writer.WriteEndObject();
        }

        return buffer.WrittenSpan.ToArray();
    }
}
