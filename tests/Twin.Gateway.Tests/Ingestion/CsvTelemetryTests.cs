using Twin.CsvImport;

namespace Twin.Gateway.Tests.Ingestion;

public class CsvTelemetryTests
{
    [Fact]
    public void Reads_units_from_headers_skips_empty_cells_and_numbers_rows_by_line()
    {
        var (columns, rows) = CsvTelemetry.Read(new StringReader("ts,temp [degF],\"speed (rpm)\",raw\n2026-11-26T08:00:00Z,100,,7\n\n2026-11-26T08:00:01Z,101,1500,\n"));
        Assert.Equal([new CsvTelemetry.Column("temp", "degF"), new CsvTelemetry.Column("speed", "rpm"), new CsvTelemetry.Column("raw", null)], columns);
        var list = rows.ToList();
        Assert.Equal([2L, 4L], list.Select(r => r.Seq));
        Assert.Equal(2, list[0].Values.Count);
        var payload = CsvTelemetry.Payload(list[1], "csv-x");
        Assert.Equal("{\"source\":\"csv-x\",\"seq\":4,\"ts\":\"2026-11-26T08:00:01.0000000Z\",\"values\":{\"temp\":101,\"speed\":1500},\"units\":{\"temp\":\"degF\",\"speed\":\"rpm\"}}", payload);
    }

    [Theory]
    [InlineData("value,temp\n", "first column")]
    [InlineData("ts,temp\nyesterday,1\n", "Line 2")]
    [InlineData("ts,temp\n2026-11-26T08:00:00Z,hot\n", "not a number")]
    public void Bad_files_say_where(string csv, string expected)
    {
        var ex = Assert.Throws<FormatException>(() => CsvTelemetry.Read(new StringReader(csv)).Rows.ToList());
        Assert.Contains(expected, ex.Message, StringComparison.Ordinal);
    }
}
