namespace Twin.Ingestion;

/// <summary>
/// Runs work per key, one batch at a time and in arrival order, with at most a bounded number of
/// keys at once. What arrives for a key that is busy waits and joins that key's next batch, so a
/// batch that is failing and being retried is never overtaken by later items of the same key
/// (for a twin: later readings would push it out of its sequence window).
/// </summary>
/// <typeparam name="TItem">What is queued per key.</typeparam>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Reliability", "CA1001", Justification = "The semaphore is never disposed: work still finishing after a stop releases it.")]
public sealed class KeyedSerialDispatcher<TItem>
{
    private readonly Func<string, IReadOnlyList<TItem>, CancellationToken, Task<bool>> _process;
    private readonly SemaphoreSlim _slots;
    private readonly int _maxConcurrent;
    private readonly Dictionary<string, List<TItem>> _waiting = new(StringComparer.Ordinal);

    /// <param name="process">Handles one key's batch; false when it was not taken (stopping, or failed): the key's queued items are then dropped, and the source, which never acknowledged them, must send them again.</param>
    public KeyedSerialDispatcher(int maxConcurrent, Func<string, IReadOnlyList<TItem>, CancellationToken, Task<bool>> process)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxConcurrent, 1);
        _maxConcurrent = maxConcurrent;
        _slots = new SemaphoreSlim(maxConcurrent, maxConcurrent);
        _process = process;
    }

    /// <summary>Keys with work running or waiting.</summary>
    public int ActiveKeys
    {
        get
        {
            lock (_waiting)
            {
                return _waiting.Count;
            }
        }
    }

    /// <summary>Queues <paramref name="items"/> for <paramref name="key"/>; waits for a free slot only when the key was idle.</summary>
    public async ValueTask EnqueueAsync(string key, IReadOnlyList<TItem> items, CancellationToken cancellationToken)
    {
        lock (_waiting)
        {
            if (_waiting.TryGetValue(key, out var queued))
            {
                queued.AddRange(items);
                return;
            }

            _waiting[key] = [];
        }

        try
        {
            await _slots.WaitAsync(cancellationToken);
        }
        catch (OperationCanceledException)
        {
            lock (_waiting)
            {
                _waiting.Remove(key);
            }

            throw;
        }

        _ = RunAsync(key, items, cancellationToken);
    }

    /// <summary>Waits until the work that is running has finished, or <paramref name="timeout"/> passed.</summary>
    public async Task DrainAsync(TimeSpan timeout)
    {
        var until = DateTime.UtcNow + timeout;
        for (var i = 0; i < _maxConcurrent; i++)
        {
            var left = until - DateTime.UtcNow;
            if (left <= TimeSpan.Zero || !await _slots.WaitAsync(left))
            {
                return;
            }
        }
    }

    private async Task RunAsync(string key, IReadOnlyList<TItem> batch, CancellationToken cancellationToken)
    {
        var finished = false;
        try
        {
            while (true)
            {
                if (!await _process(key, batch, cancellationToken))
                {
                    return;
                }

                lock (_waiting)
                {
                    var queued = _waiting[key];
                    if (queued.Count == 0)
                    {
                        _waiting.Remove(key);
                        finished = true;
                        return;
                    }

                    batch = queued;
                    _waiting[key] = [];
                }
            }
        }
        finally
        {
            if (!finished)
            {
                lock (_waiting)
                {
                    // Stopping or failed: what is still queued for the key is dropped here, unacknowledged.
                    _waiting.Remove(key);
                }
            }

            _slots.Release();
        }
    }
}
