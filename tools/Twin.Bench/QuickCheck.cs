namespace Twin.Bench;

/// <summary>
/// The seconds-long smoke run that <c>test.sh</c> runs: a small end-to-end ingest through
/// Mosquitto (or the embedded broker when Mosquitto is missing) and a few seconds of one hot
/// twin, each checked for zero loss by reading the twins back. It asserts no loss, not speed.
/// </summary>
public static class QuickCheck
{
    public const string Usage = "(no options)";

    public static async Task<int> RunAsync(BenchArguments arguments)
    {
        arguments.RejectUnknown();
        var ingest = await IngestBenchmark.RunAsync(BenchArguments.Parse(["--quick"]));
        var hot = await TwinBenchmarks.HotAsync(BenchArguments.Parse(["--quick"]));
        var ok = ingest == 0 && hot == 0;
        Console.WriteLine(ok ? "quick: zero loss" : "quick: LOSS (see above)");
        return ok ? 0 : 1;
    }
}
