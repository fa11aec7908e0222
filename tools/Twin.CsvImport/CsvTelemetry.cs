using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Twin.CsvImport;

/// <summary>
/// Turns a CSV export (a timestamp column, then one column per sensor) into telemetry payloads.
/// A header may carry the unit: <c>temperature [degF]</c> or <c>temperature (degF)</c>. Empty
/// cells are skipped; each row's line number is its sequence number within the import's source.
/// </summary>
public static class CsvTelemetry
{
    private static readonly string[] TimeColumns = ["timestamp", "ts", "time", "datetime", "date_time"];

    public sealed record Column(string Sensor, string? Unit);

    public sealed record Row(long Seq, DateTimeOffset Timestamp, IReadOnlyList<(Column Column, double Value)> Values);

    public static (IReadOnlyList<Column> Columns, IEnumerable<Row> Rows) Read(TextReader reader, char separator = ',')
    {
        var header = reader.ReadLine() ?? throw new FormatException("The CSV file is empty.");
        var names = Split(header, separator);
        if (!TimeColumns.Contains(names[0].Trim().ToLowerInvariant()))
        {
            throw new FormatException($"The first column must be the timestamp (one of {string.Join(", ", TimeColumns)}); it is '{names[0]}'.");
        }

        var columns = names.Skip(1).Select(ParseHeader).ToList();
        return (columns, Rows(reader, separator, columns));
    }

    /// <summary>The JSON payload of one row, as the HTTP telemetry endpoint takes it.</summary>
    public static string Payload(Row row, string source)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteString("source", source);
            json.WriteNumber("seq", row.Seq);
            json.WriteString("ts", row.Timestamp.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fffffff'Z'", CultureInfo.InvariantCulture));
            json.WriteStartObject("values");
            foreach (var (column, value) in row.Values)
            {
                json.WriteNumber(column.Sensor, value);
            }

            json.WriteEndObject();
            if (row.Values.Any(v => v.Column.Unit is not null))
            {
                json.WriteStartObject("units");
                foreach (var (column, _) in row.Values.Where(v => v.Column.Unit is not null))
                {
                    json.WriteString(column.Sensor, column.Unit);
                }

                json.WriteEndObject();
            }

            json.WriteEndObject();
        }

        return Encoding.UTF8.GetString(buffer.ToArray());
    }

    private static IEnumerable<Row> Rows(TextReader reader, char separator, List<Column> columns)
    {
        long line = 1;
        while (reader.ReadLine() is { } text)
        {
            line++;
            if (string.IsNullOrWhiteSpace(text))
            {
                continue;
            }

            var cells = Split(text, separator);
            if (!DateTimeOffset.TryParse(cells[0], CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var ts))
            {
                throw new FormatException($"Line {line}: '{cells[0]}' is not a timestamp.");
            }

            var values = new List<(Column, double)>();
            for (var i = 1; i < cells.Count && i <= columns.Count; i++)
            {
                var cell = cells[i].Trim();
                if (cell.Length == 0)
                {
                    continue;
                }

                if (!double.TryParse(cell, NumberStyles.Float, CultureInfo.InvariantCulture, out var value))
                {
                    throw new FormatException($"Line {line}, column '{columns[i - 1].Sensor}': '{cell}' is not a number.");
                }

                values.Add((columns[i - 1], value));
            }

            if (values.Count > 0)
            {
                yield return new Row(line, ts, values);
            }
        }
    }

    private static Column ParseHeader(string header)
    {
        var text = header.Trim();
        foreach (var (open, close) in new[] { ('[', ']'), ('(', ')') })
        {
            var start = text.LastIndexOf(open);
            if (start > 0 && text.EndsWith(close))
            {
                return new Column(text[..start].Trim(), text[(start + 1)..^1].Trim());
            }
        }

        return new Column(text, null);
    }

    /// <summary>Splits a CSV line, honouring double quotes.</summary>
    private static List<string> Split(string line, char separator)
    {
        var cells = new List<string>();
        var cell = new StringBuilder();
        var quoted = false;
        for (var i = 0; i < line.Length; i++)
        {
            var c = line[i];
            if (quoted)
            {
                if (c == '"' && i + 1 < line.Length && line[i + 1] == '"')
                {
                    cell.Append('"');
                    i++;
                }
                else if (c == '"')
                {
                    quoted = false;
                }
                else
                {
                    cell.Append(c);
                }
            }
            else if (c == '"')
            {
                quoted = true;
            }
            else if (c == separator)
            {
                cells.Add(cell.ToString());
                cell.Clear();
            }
            else
            {
                cell.Append(c);
            }
        }

        cells.Add(cell.ToString());
        return cells;
    }
}
