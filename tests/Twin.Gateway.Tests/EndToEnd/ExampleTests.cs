using Twin.Testing;

namespace Twin.Gateway.Tests.EndToEnd;

/// <summary>The README's client examples run against the embedded default.</summary>
public class ExampleTests(EmbeddedGatewayFixture fixture) : IClassFixture<EmbeddedGatewayFixture>
{
    private static async Task<string> RunAsync(string project, params string[] args)
    {
        var dll = Path.Combine(Repository.Root, "tools", "examples", project, "bin", Repository.Configuration, "net10.0", project + ".dll");
        await using var process = ChildProcess.Start("dotnet", [dll, .. args], Path.GetDirectoryName(dll));
        // Waits for the exit and for the end of its output (polling HasExited can read the output before the last lines arrive).
        await process.WaitForExitAsync(TimeSpan.FromSeconds(60));
        return process.Output;
    }

    [Fact]
    public async Task The_grain_client_sdk_example_lists_the_demo_machines()
    {
        await Wait.UntilAsync(async () => (await fixture.Gateway.GetJsonAsync("/api/factories/demo/machines"))?.GetProperty("total").GetInt32() >= 8, TimeSpan.FromSeconds(15), "demo machines");
        var output = await RunAsync("Twin.Examples.Sdk", "demo", $"--Twin:Client:GatewayPort={fixture.Gateway.OrleansGatewayPort}");
        Assert.Matches(@"\d+ machines in demo", output);
        Assert.Contains("press-1: Running, version", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_signalr_example_prints_a_snapshot_and_live_versions()
    {
        var output = await RunAsync("Twin.Examples.Live", fixture.Gateway.Http.BaseAddress!.ToString(), "demo/cnc-1", "3");
        Assert.Contains("snapshot version", output, StringComparison.Ordinal);
        Assert.Equal(4, output.Split('\n').Count(l => l.Contains("version", StringComparison.Ordinal)));
    }
}
