namespace Twin.Gateway.Tests.Support;

/// <summary>A throwaway Mosquitto broker on a free 127.0.0.1 port, with persistence in its own folder.</summary>
public sealed class MosquittoProcess : IAsyncDisposable
{
    private readonly string _directory;
    private ChildProcess? _process;

    private MosquittoProcess(string directory, int port)
    {
        _directory = directory;
        Port = port;
    }

    public int Port { get; }

    public static string Executable =>
        new[] { "/usr/sbin/mosquitto", "/usr/bin/mosquitto", "/usr/local/sbin/mosquitto" }.FirstOrDefault(File.Exists)
        ?? throw new FileNotFoundException("mosquitto is not installed (./test.sh installs it: apt-get install mosquitto mosquitto-clients).");

    public static async Task<MosquittoProcess> StartAsync(string directory)
    {
        Directory.CreateDirectory(directory);
        var broker = new MosquittoProcess(directory, Ports.Free());
        var config = Path.Combine(directory, "mosquitto.conf");
        await File.WriteAllTextAsync(config, $"""
            listener {broker.Port} 127.0.0.1
            allow_anonymous true
            persistence true
            persistence_location {directory}/
            max_queued_messages 100000
            log_dest stdout
            """);
        await broker.LaunchAsync();
        return broker;
    }

    /// <summary>Stops the broker (SIGTERM) and starts it again on the same port; without <paramref name="keepData"/> its persisted sessions and retained messages are gone.</summary>
    public async Task RestartAsync(bool keepData)
    {
        await _process!.StopAsync(TimeSpan.FromSeconds(15));
        await _process.DisposeAsync();
        if (!keepData)
        {
            File.Delete(Path.Combine(_directory, "mosquitto.db"));
        }

        await LaunchAsync();
    }

    private async Task LaunchAsync()
    {
        var process = ChildProcess.Start(Executable, ["-c", Path.Combine(_directory, "mosquitto.conf")], _directory);
        _process = process;
        await Wait.UntilAsync(
            async () => process.HasExited
                ? throw new InvalidOperationException("mosquitto exited:\n" + process.Output)
                : await Ports.IsOpenAsync(Port),
            TimeSpan.FromSeconds(15),
            "mosquitto listening");
    }

    public async ValueTask DisposeAsync()
    {
        if (_process is not null)
        {
            await _process.DisposeAsync();
        }

        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
