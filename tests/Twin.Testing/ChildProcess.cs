using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace Twin.Testing;

/// <summary>
/// A real OS process started by a test or a benchmark, with its output kept for failure messages.
/// Killed (with its children) on dispose, and on Ctrl-C once <see cref="Interrupt.Enable"/> ran.
/// </summary>
public sealed class ChildProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _output = new();
    private IDisposable? _onInterrupt;

    private ChildProcess(Process process)
    {
        _process = process;
    }

    public int Id => _process.Id;

    public bool HasExited => _process.HasExited;

    public int ExitCode => _process.ExitCode;

    /// <summary>The most recent lines it wrote to standard output and error.</summary>
    public string Output
    {
        get
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }
    }

    /// <param name="standardInput">Keep the process's standard input open for <see cref="SendLineAsync"/>.</param>
    public static ChildProcess Start(string fileName, IEnumerable<string> arguments, string? workingDirectory = null, IDictionary<string, string>? environment = null, bool standardInput = false)
    {
        var info = new ProcessStartInfo(fileName)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = standardInput,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory ?? Environment.CurrentDirectory,
        };
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }

        foreach (var (key, value) in environment ?? new Dictionary<string, string>())
        {
            info.Environment[key] = value;
        }

        var process = new Process { StartInfo = info, EnableRaisingEvents = true };
        var child = new ChildProcess(process);
        process.OutputDataReceived += (_, e) => child.Append(e.Data);
        process.ErrorDataReceived += (_, e) => child.Append(e.Data);
        process.Start();
        child._onInterrupt = Interrupt.OnCancel(child.Kill);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return child;
    }

    /// <summary>SIGTERM, as an orchestrator stops a process; then waits for it to exit.</summary>
    public async Task StopAsync(TimeSpan timeout)
    {
        if (!await SignalAsync("TERM"))
        {
            return;
        }

        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await _process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
            throw new TimeoutException($"The process did not stop within {timeout.TotalSeconds} s of SIGTERM.\n{Output}");
        }
    }

    /// <summary>Sends a signal (e.g. <c>INT</c>) through kill(1); true when it was delivered.</summary>
    public async Task<bool> SignalAsync(string signal)
    {
        if (HasExited)
        {
            return false;
        }

        using var kill = Process.Start("kill", ["-" + signal, Id.ToString(CultureInfo.InvariantCulture)]);
        await kill.WaitForExitAsync();
        return kill.ExitCode == 0;
    }

    /// <summary>SIGSTOP: the process hangs (no thread runs, its sockets stay open) until <see cref="ResumeAsync"/>.</summary>
    public Task PauseAsync() => SignalAsync("STOP");

    /// <summary>SIGCONT: a paused process runs again.</summary>
    public Task ResumeAsync() => SignalAsync("CONT");

    /// <summary>Waits for the process to exit on its own; returns its exit code.</summary>
    public async Task<int> WaitForExitAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await _process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            throw new TimeoutException($"The process did not exit within {timeout.TotalSeconds} s.\n{Output}");
        }

        return _process.ExitCode;
    }

    /// <summary>
    /// All it wrote, once it has exited: waits for the end of its output first (after
    /// <see cref="HasExited"/> turns true the last lines, often the error that ended it, may still be on their way).
    /// </summary>
    public async Task<string> ExitOutputAsync()
    {
        try
        {
            await WaitForExitAsync(TimeSpan.FromSeconds(10));
        }
        catch (TimeoutException)
        {
        }

        return Output;
    }

    /// <summary>Writes one line to the process's standard input (started with <c>standardInput</c>).</summary>
    public async Task SendLineAsync(string line)
    {
        await _process.StandardInput.WriteLineAsync(line);
        await _process.StandardInput.FlushAsync();
    }

    /// <summary>SIGKILL: the process dies at once, as in a crash.</summary>
    public async Task KillAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }
    }

    /// <summary>CPU time (user + system) the process has used so far, from /proc.</summary>
    public TimeSpan CpuTime() => ProcessStat.Read(Id)?.Cpu ?? TimeSpan.Zero;

    /// <summary>
    /// CPU time of the process and its children: its own, what its exited children used (reaped),
    /// and what its running children have used so far (a PostgreSQL server and its backends).
    /// </summary>
    public TimeSpan CpuTimeWithChildren()
    {
        if (ProcessStat.Read(Id) is not { } self)
        {
            return TimeSpan.Zero;
        }

        var total = self.Cpu + self.ReapedChildrenCpu;
        foreach (var child in ProcessStat.All().Where(p => p.ParentId == Id))
        {
            total += child.Cpu;
        }

        return total;
    }

    /// <summary>Resident set size in bytes, from /proc.</summary>
    public long ResidentBytes()
    {
        var line = File.ReadLines($"/proc/{Id}/status").First(l => l.StartsWith("VmRSS:", StringComparison.Ordinal));
        return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) * 1024;
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
                await _process.WaitForExitAsync(timeout.Token);
            }
        }
        catch (Exception ex) when (ex is InvalidOperationException or OperationCanceledException)
        {
        }

        _onInterrupt?.Dispose();
        _process.Dispose();
    }

    // Synchronous: it runs from the signal handler, which cannot await.
    private void Kill()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
                _process.WaitForExit(TimeSpan.FromSeconds(10));
            }
        }
        catch (Exception ex) when (ex is InvalidOperationException or System.ComponentModel.Win32Exception)
        {
        }
    }

    private void Append(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_output)
        {
            // Keep the most recent output: that is where a failure shows.
            if (_output.Length > 400_000)
            {
                _output.Remove(0, 200_000);
            }

            _output.AppendLine(line);
        }
    }
}
