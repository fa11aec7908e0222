using Orleans.Core;

namespace Twin.Grains.Infrastructure;

/// <summary>
/// The one way a twin writes its state. Group commit for a reentrant grain: callers change the in-memory state, then await
/// <see cref="CommitAsync"/>, which completes once a write that includes their change is done.
/// While one write runs, changes pile up and go out together in the next one, so a burst of
/// concurrent calls costs a few writes, not one each. A non-reentrant grain uses it the same
/// way and simply never has two writes waiting.
/// </summary>
/// <remarks>
/// Single-threaded use only (a grain's turns). When a write fails every waiting caller sees the
/// failure and the instance refuses further commits: the in-memory state now holds changes that
/// are not durable, so the grain must deactivate and reload from storage: <paramref name="owner"/>
/// (when given) is deactivated. Takes the storage and the grain rather than delegates, since every
/// active twin holds one of these and two bound delegates would double its size.
/// </remarks>
internal sealed class GroupCommit(IStorage storage, IGrainBase? owner = null)
{
    private TaskCompletionSource? _pending;
    private TaskCompletionSource? _inFlight;
    private Task _loop = Task.CompletedTask;
    private Exception? _fault;
    private bool _closed;

    private WakeReminder[] _wakes = [];

    /// <summary>Number of writes done, for tests and metrics.</summary>
    public long Writes { get; private set; }

    /// <summary>The write failure that poisoned this instance, if any.</summary>
    public Exception? Fault => _fault;

    /// <summary>Call after changing the state: completes when the change is durable.</summary>
    public Task CommitAsync()
    {
        if (_fault is not null)
        {
            return Task.FromException(new InvalidOperationException("The twin's state could not be saved; it is reloading.", _fault));
        }

        if (_closed)
        {
            return Task.FromException(new InvalidOperationException("The twin is deactivating; the next activation saves this change again from what is stored."));
        }

        _pending ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var task = _pending.Task;
        if (_loop.IsCompleted)
        {
            _loop = RunAsync();
        }

        return task;
    }

    /// <summary>
    /// A reminder awaited before each write: it makes sure it is registered when the write stores
    /// work it is for (outbox messages, a KPI report, history readings). See <see cref="WakeReminder"/>.
    /// </summary>
    internal void Add(WakeReminder wake) => _wakes = [.. _wakes, wake];

    /// <summary>Completes when every change made so far is durable (for calls that changed nothing).</summary>
    public Task WhenDurableAsync()
    {
        if (_fault is not null)
        {
            return Task.FromException(new InvalidOperationException("The twin's state could not be saved; it is reloading.", _fault));
        }

        return _pending?.Task ?? _inFlight?.Task ?? Task.CompletedTask;
    }

    /// <summary>Completes when no write is running or pending (for deactivation).</summary>
    public Task DrainAsync() => _loop;

    /// <summary>
    /// For <c>OnDeactivateAsync</c>: lets the twin's outbox finish the round it is in (up to the
    /// deactivation's deadline), then waits for the last write and refuses any later commit. A
    /// continuation of this dying activation can then never write over the state the next
    /// activation loaded (an ETag conflict there, or lost changes). What was not written stays in
    /// the stored outbox and is delivered again by the next activation; receivers drop repeats.
    /// </summary>
    public async Task CloseAsync(CancellationToken deadline, Outbox? outbox = null)
    {
        if (outbox is not null)
        {
            try
            {
                await outbox.StopAsync().WaitAsync(deadline);
            }
            catch (OperationCanceledException)
            {
                // Still delivering at the deadline: its commit is refused below.
            }
        }

        _closed = true;
        await _loop;
    }

    private async Task RunAsync()
    {
        try
        {
            while (_pending is { } batch)
            {
                _pending = null;
                _inFlight = batch;
                try
                {
                    foreach (var wake in _wakes)
                    {
                        await wake.BeforeWriteAsync();
                    }

                    await storage.WriteStateAsync();
                    Writes++;
                    batch.TrySetResult();
                }
                catch (Exception ex)
                {
                    _fault = ex;
                    owner?.DeactivateOnIdle();
                    batch.TrySetException(ex);
                    _pending?.TrySetException(ex);
                    _pending = null;
                    return;
                }
                finally
                {
                    _inFlight = null;
                }
            }
        }
        finally
        {
            // Let go of the finished loop: an idle twin would otherwise keep its task alive.
            _loop = Task.CompletedTask;
        }
    }
}
