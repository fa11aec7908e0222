using System.Globalization;
using System.Text;
using Twin.CsvImport;

// Imports a CSV export of historical readings into a machine twin over HTTP, with the readings'
// original event times. Rows are numbered within their own source, so a re-run is harmless:
// the twin recognises every row it already has.
var options = Arguments.Parse(args);
if (options is null)
{
    Console.Error.WriteLine("""
        usage: dotnet run --project tools/Twin.CsvImport -- --factory F --machine M --file export.csv
               [--url http://127.0.0.1:5080] [--source csv-name] [--batch 2000] [--separator ,]
        The first CSV column is the timestamp; each other column is a sensor, optionally with its
        unit in the header: temperature [degF].
        """);
    return 2;
}

using var http = new HttpClient { BaseAddress = new Uri(options.Url), Timeout = TimeSpan.FromMinutes(2) };
try
{
    var result = await Importer.RunAsync(http, options, Console.Out);
    return result.Failed ? 1 : 0;
}
catch (Exception ex) when (ex is FormatException or IOException or HttpRequestException)
{
    Console.Error.WriteLine($"import failed: {ex.Message}");
    return 1;
}

namespace Twin.CsvImport
{
    public sealed record ImportOptions(string Url, string Factory, string Machine, string File, string Source, int Batch, char Separator);

    public sealed record ImportResult(int Rows, int Applied, int Duplicates, bool Failed);

    public static class Arguments
    {
        public static ImportOptions? Parse(string[] args)
        {
            var map = new Dictionary<string, string>(StringComparer.Ordinal);
            for (var i = 0; i + 1 < args.Length; i += 2)
            {
                if (!args[i].StartsWith("--", StringComparison.Ordinal))
                {
                    return null;
                }

                map[args[i][2..]] = args[i + 1];
            }

            if (!map.TryGetValue("factory", out var factory) || !map.TryGetValue("machine", out var machine) || !map.TryGetValue("file", out var file))
            {
                return null;
            }

            var source = map.GetValueOrDefault("source") ?? "csv-" + new string(Path.GetFileNameWithoutExtension(file).Select(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' ? c : '-').Take(60).ToArray());
            return new ImportOptions(
                map.GetValueOrDefault("url") ?? "http://127.0.0.1:5080",
                factory,
                machine,
                file,
                source,
                int.Parse(map.GetValueOrDefault("batch") ?? "2000", CultureInfo.InvariantCulture),
                (map.GetValueOrDefault("separator") ?? ",")[0]);
        }
    }

    public static class Importer
    {
        public static async Task<ImportResult> RunAsync(HttpClient http, ImportOptions options, TextWriter log)
        {
            using var reader = new StreamReader(options.File, Encoding.UTF8);
            var (columns, rows) = CsvTelemetry.Read(reader, options.Separator);
            await log.WriteLineAsync($"importing {columns.Count} sensors ({string.Join(", ", columns.Select(c => c.Unit is null ? c.Sensor : $"{c.Sensor} [{c.Unit}]"))}) as source '{options.Source}'");
            int total = 0, applied = 0, duplicates = 0;
            foreach (var batch in rows.Chunk(options.Batch))
            {
                var body = "[" + string.Join(",", batch.Select(r => CsvTelemetry.Payload(r, options.Source))) + "]";
                using var response = await http.PostAsync(
                    $"/api/factories/{Uri.EscapeDataString(options.Factory)}/machines/{Uri.EscapeDataString(options.Machine)}/telemetry",
                    new StringContent(body, Encoding.UTF8, "application/json"));
                var text = await response.Content.ReadAsStringAsync();
                if (!response.IsSuccessStatusCode)
                {
                    await log.WriteLineAsync($"rows {batch[0].Seq}–{batch[^1].Seq} refused ({(int)response.StatusCode}): {text}");
                    return new ImportResult(total, applied, duplicates, true);
                }

                using var json = System.Text.Json.JsonDocument.Parse(text);
                total += batch.Length;
                applied += json.RootElement.GetProperty("applied").GetInt32() + json.RootElement.GetProperty("late").GetInt32();
                duplicates += json.RootElement.GetProperty("duplicates").GetInt32();
            }

            await log.WriteLineAsync($"{total} rows: {applied} applied, {duplicates} already there");
            return new ImportResult(total, applied, duplicates, false);
        }
    }
}
