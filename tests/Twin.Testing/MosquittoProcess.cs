namespace Twin.Testing;

/// <summary>
/// A throwaway Mosquitto broker on a free 127.0.0.1 port, anonymous, with persistence in its own
/// folder (deleted on dispose) and a queue deep enough that a publisher running ahead of the
/// gateway is queued rather than dropped, as docs/OPERATIONS.md configures it.
/// </summary>
public sealed class MosquittoProcess : IAsyncDisposable
{
    private static readonly string[] Candidates = ["/usr/sbin/mosquitto", "/usr/bin/mosquitto", "/usr/local/sbin/mosquitto"];

    private readonly string _directory;
    private ChildProcess? _process;

    private MosquittoProcess(string directory, int port)
    {
        _directory = directory;
        Port = port;
    }

    public int Port { get; }

    public ChildProcess Process => _process ?? throw new InvalidOperationException("not started");

    /// <summary>Whether Debian's mosquitto package is installed (a benchmark leaves its figure out when not).</summary>
    public static bool IsInstalled => Candidates.Any(File.Exists);

    public static string Executable =>
        Candidates.FirstOrDefault(File.Exists)
        ?? throw new FileNotFoundException("mosquitto is not installed (./test.sh installs it: apt-get install mosquitto mosquitto-clients).");

    /// <remarks>
    /// Started as root, Mosquitto drops to the <c>mosquitto</c> user, which cannot write the
    /// persistence file into a root-owned folder: it then keeps sessions and queued messages only
    /// in memory and loses them on a restart, silently. So as root it is told to stay root.
    /// </remarks>
    /// <param name="maxInflightMessages">Mosquitto's <c>max_inflight_messages</c> per client; null: its default (20).</param>
    public static async Task<MosquittoProcess> StartAsync(string directory, int? maxInflightMessages = null)
    {
        Directory.CreateDirectory(directory);
        var broker = new MosquittoProcess(directory, Ports.Free());
        var config = Path.Combine(directory, "mosquitto.conf");
        await File.WriteAllTextAsync(config, $"""
            listener {broker.Port} 127.0.0.1
            allow_anonymous true
            persistence true
            persistence_location {directory}/
            max_queued_messages 1000000
            log_dest stdout
            {(Environment.UserName == "root" ? "user root" : "")}
            {(maxInflightMessages is { } n ? $"max_inflight_messages {n}" : "")}
            """);
        try
        {
            await broker.StartAgainAsync();
        }
        catch
        {
            await broker.DisposeAsync();
            throw;
        }

        return broker;
    }

    /// <summary>Starts the broker (again) with the same configuration, port and persistence file.</summary>
    public async Task StartAgainAsync()
    {
        var process = ChildProcess.Start(Executable, ["-c", Path.Combine(_directory, "mosquitto.conf")], _directory);
        _process = process;
        await Wait.UntilAsync(
            async () => process.HasExited
                ? throw new InvalidOperationException("mosquitto exited:\n" + await process.ExitOutputAsync())
                : await Ports.IsOpenAsync(Port),
            TimeSpan.FromSeconds(15),
            "mosquitto listening");
    }

    /// <summary>SIGTERM: Mosquitto saves its persistence file (sessions, queued messages) and exits.</summary>
    public async Task StopAsync()
    {
        if (_process is not null)
        {
            await _process.StopAsync(TimeSpan.FromSeconds(30));
            await _process.DisposeAsync();
            _process = null;
        }
    }

    /// <summary>Stops the broker (SIGTERM) and starts it again on the same port; without <paramref name="keepData"/> its persisted sessions and retained messages are gone.</summary>
    public async Task RestartAsync(bool keepData)
    {
        await StopAsync();
        if (!keepData)
        {
            File.Delete(Path.Combine(_directory, "mosquitto.db"));
        }

        await StartAgainAsync();
    }

    public async ValueTask DisposeAsync()
    {
        if (_process is not null)
        {
            await _process.DisposeAsync();
        }

        TempDirectory.TryDelete(_directory);
    }
}
