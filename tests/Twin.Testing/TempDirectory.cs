namespace Twin.Testing;

/// <summary>A folder under the system's temporary directory, deleted on dispose (and on Ctrl-C once <see cref="Interrupt.Enable"/> ran).</summary>
public sealed class TempDirectory : IDisposable
{
    private readonly IDisposable _onInterrupt;
    private readonly Lock _deleting = new();

    public TempDirectory(string prefix = "twin-e2e")
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"{prefix}-{Guid.NewGuid().ToString("N")[..12]}");
        Directory.CreateDirectory(Path);
        _onInterrupt = Interrupt.OnCancel(Delete);
    }

    public string Path { get; }

    public string Sub(string name) => System.IO.Path.Combine(Path, name);

    public void Dispose()
    {
        _onInterrupt.Dispose();
        Delete();
    }

    // Serialised: on Ctrl-C the interrupted run unwinds and disposes the folder while the signal handler deletes it.
    private void Delete()
    {
        lock (_deleting)
        {
            TryDelete(Path);
        }
    }

    /// <summary>Deletes a folder and what it holds; one still in use or gone already is left as it is.</summary>
    internal static void TryDelete(string path)
    {
        try
        {
            Directory.Delete(path, recursive: true);
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }
}
