using System.Runtime.InteropServices;

namespace Twin.Testing;

/// <summary>
/// Ctrl-C (SIGINT) and SIGTERM, once <see cref="Enable"/> ran: runs every registered clean-up,
/// newest first (servers stop before their folders are removed), then exits with 130, so no
/// server or temporary folder outlives an interrupted benchmark. Off by default, so a test host
/// keeps its own signal handling.
/// </summary>
public static class Interrupt
{
    private static readonly List<Action> Registered = [];
    private static PosixSignalRegistration[]? _signals;
    private static int _interrupted;

    /// <summary>Handles SIGINT and SIGTERM from now on (a program calls it once, at its start).</summary>
    public static void Enable()
    {
        lock (Registered)
        {
            _signals ??=
            [
                PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal),
                PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal),
            ];
        }
    }

    /// <summary>Runs <paramref name="cleanUp"/> if the run is interrupted before the returned registration is disposed.</summary>
    public static IDisposable OnCancel(Action cleanUp)
    {
        lock (Registered)
        {
            // Not enabled (a test host): no signal will run it, so nothing is kept.
            if (_signals is null)
            {
                return new Registration(null);
            }

            Registered.Add(cleanUp);
        }

        return new Registration(cleanUp);
    }

    private static void OnSignal(PosixSignalContext context)
    {
        context.Cancel = true;
        if (Interlocked.Exchange(ref _interrupted, 1) == 1)
        {
            return;
        }

        Console.Error.WriteLine($"{context.Signal}: stopping the servers and removing the temporary folders");
        Action[] cleanUps;
        lock (Registered)
        {
            cleanUps = [.. Enumerable.Reverse(Registered)];
        }

        foreach (var cleanUp in cleanUps)
        {
            try
            {
                cleanUp();
            }
            catch (Exception ex)
            {
                Console.Error.WriteLine($"clean-up failed: {ex.Message}");
            }
        }

        Environment.Exit(130);
    }

    private sealed class Registration(Action? cleanUp) : IDisposable
    {
        public void Dispose()
        {
            if (cleanUp is null)
            {
                return;
            }

            lock (Registered)
            {
                Registered.Remove(cleanUp);
            }
        }
    }
}
