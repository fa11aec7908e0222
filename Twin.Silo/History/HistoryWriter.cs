using System.Diagnostics.Metrics;
using System.Threading.Channels;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Twin.Grains.Infrastructure;

namespace Twin.Silo.History;

/// <summary>
/// Takes the readings machine twins made durable and writes them to the history store, off the
/// twins' hot path: <see cref="AppendAsync"/> queues (a bounded queue; when it is full the caller
/// waits, and the twin keeps the readings in its state meanwhile) and completes once they are written; one loop writes
/// what gathered every <see cref="TwinHistoryOptions.FlushInterval"/> (or at once when a full batch
/// waits) in one transaction per batch, retrying a failed batch; on stop it writes what is queued.
/// A second loop deletes expired readings and aggregates every <see cref="TwinHistoryOptions.CleanupInterval"/>.
/// </summary>
public sealed partial class HistoryWriter : IHistorySink, IHostedService, IAsyncDisposable
{
    private static readonly TimeSpan DropLogInterval = TimeSpan.FromSeconds(10);

    private readonly IHistoryStore _store;
    private readonly TwinHistoryOptions _options;
    private readonly ILogger<HistoryWriter> _logger;
    private readonly TimeProvider _time;
    private readonly Channel<Item> _queue;
    private readonly CancellationTokenSource _completing = new();
    private readonly CancellationTokenSource _abort = new();
    private readonly Counter<long>? _writtenCounter;
    private readonly Counter<long>? _droppedCounter;
    private long _queued;
    private long _written;
    private long _dropped;
    private long _droppedBatches;
    private long _lastDropLog = long.MinValue;
    private int _disposed;
    private Task? _writer;
    private Task? _cleaner;

    public HistoryWriter(IHistoryStore store, IOptions<TwinHistoryOptions> options, ILogger<HistoryWriter> logger, TimeProvider? time = null, IMeterFactory? meters = null)
    {
        _store = store;
        _options = options.Value;
        _logger = logger;
        _time = time ?? TimeProvider.System;
        _queue = Channel.CreateBounded<Item>(new BoundedChannelOptions(_options.QueueCapacity)
        {
            SingleReader = true,
            FullMode = BoundedChannelFullMode.Wait,
        });
        if (meters is not null)
        {
            var meter = meters.Create(TwinMetrics.MeterName);
            _writtenCounter = meter.CreateCounter<long>("twin.history.readings.written", description: "Readings written to the history (new ones; a reading written again is not counted).");
            _droppedCounter = meter.CreateCounter<long>("twin.history.readings.dropped", description: "Readings left out of the history because its queue was full or the store failed while stopping.");
            meter.CreateObservableGauge("twin.history.queue", () => Math.Max(0, Interlocked.Read(ref _queued)), description: "Readings waiting to be written to the history.");
        }
    }

    /// <summary>Readings the store took as new since start.</summary>
    public long Written => Interlocked.Read(ref _written);

    /// <summary>Readings dropped since start (queue full, or not written before the stop deadline).</summary>
    public long Dropped => Interlocked.Read(ref _dropped);

    public async Task AppendAsync(string machineKey, IReadOnlyList<HistoryPoint> points)
    {
        if (points.Count == 0)
        {
            return;
        }

        // A value the store cannot hold (not finite) would fail its whole batch again and again and
        // hold up every machine's history: it is left out, counted; a score that is not finite is 1.
        if (points.Any(p => !double.IsFinite(p.Value) || !double.IsFinite(p.AnomalyScore)))
        {
            var finite = points.Where(p => double.IsFinite(p.Value)).Select(p => double.IsFinite(p.AnomalyScore) ? p : p with { AnomalyScore = 1 }).ToList();
            if (finite.Count < points.Count)
            {
                Drop(points.Count - finite.Count, "a value is not a finite number");
            }

            points = finite;
            if (points.Count == 0)
            {
                return;
            }
        }

        // Waits while the queue is full: the twin keeps the readings and takes no more past its own bound.
        var item = new Item(machineKey, points, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));
        Interlocked.Add(ref _queued, points.Count);
        try
        {
            if (!_queue.Writer.TryWrite(item))
            {
                await _queue.Writer.WriteAsync(item);
            }
        }
        catch
        {
            Interlocked.Add(ref _queued, -points.Count);
            throw;
        }

        await item.Done!.Task;
    }

    /// <summary>Completes when everything appended before the call has been written (or dropped).</summary>
    public async Task FlushAsync(CancellationToken cancellationToken = default)
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await _queue.Writer.WriteAsync(new Item("", [], done, Flush: true), cancellationToken);
        await done.Task.WaitAsync(cancellationToken);
    }

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        await _store.InitializeAsync(cancellationToken);
        _writer = Task.Run(WriteLoopAsync, CancellationToken.None);
        _cleaner = Task.Run(CleanupLoopAsync, CancellationToken.None);
    }

    /// <summary>Writes what is queued (the silo has stopped by now, so nothing more comes), within the host's stop deadline.</summary>
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        _queue.Writer.TryComplete();
        await _completing.CancelAsync();
        if (_writer is null)
        {
            return;
        }

        try
        {
            await _writer.WaitAsync(cancellationToken);
        }
        catch (OperationCanceledException)
        {
            await _abort.CancelAsync();
            await _writer;
        }

        if (_cleaner is not null)
        {
            await _abort.CancelAsync();
            await _cleaner;
        }
    }

    public async ValueTask DisposeAsync()
    {
        // The container disposes it once per registration it is reachable through (sink, hosted service, writer).
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }

        _queue.Writer.TryComplete();
        await _completing.CancelAsync();
        await _abort.CancelAsync();
        if (_writer is not null)
        {
            await _writer;
        }

        if (_cleaner is not null)
        {
            await _cleaner;
        }

        _completing.Dispose();
        _abort.Dispose();
    }

    private async Task WriteLoopAsync()
    {
        var reader = _queue.Reader;
        var batch = new List<HistoryEntry>(_options.BatchSize);
        var waiting = new List<TaskCompletionSource>();
        while (await reader.WaitToReadAsync(CancellationToken.None))
        {
            // Gather a while, unless a full batch is already waiting or the host is stopping.
            if (Interlocked.Read(ref _queued) < _options.BatchSize && !_completing.IsCancellationRequested)
            {
                try
                {
                    await Task.Delay(_options.FlushInterval, _time, _completing.Token);
                }
                catch (OperationCanceledException)
                {
                }
            }

            while (reader.TryRead(out var item))
            {
                if (item.Flush)
                {
                    await WriteAsync(batch, waiting);
                    item.Done!.TrySetResult();
                    continue;
                }

                Interlocked.Add(ref _queued, -item.Points.Count);
                if (!TrySplit(item.MachineKey, out var factory, out var machine))
                {
                    LogBadKey(item.MachineKey, item.Points.Count);
                    item.Done?.TrySetResult();
                    continue;
                }

                foreach (var point in item.Points)
                {
                    batch.Add(new HistoryEntry(factory, machine, point));
                }

                if (item.Done is { } done)
                {
                    waiting.Add(done);
                }

                if (batch.Count >= _options.BatchSize)
                {
                    await WriteAsync(batch, waiting);
                }
            }

            await WriteAsync(batch, waiting);
        }
    }

    /// <summary>
    /// Writes the batch and clears it, then tells the twins waiting for it; a failure is retried with
    /// a growing pause until it succeeds or the host stops (the twins then keep their readings).
    /// </summary>
    private async Task WriteAsync(List<HistoryEntry> batch, List<TaskCompletionSource> waiting)
    {
        if (batch.Count == 0)
        {
            waiting.ForEach(w => w.TrySetResult());
            waiting.Clear();
            return;
        }

        var written = false;
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                var count = await _store.WriteAsync(batch, _abort.Token);
                Interlocked.Add(ref _written, count);
                _writtenCounter?.Add(count);
                written = true;
                if (attempt > 1)
                {
                    LogRecovered(batch.Count, attempt);
                }

                break;
            }
            catch (Exception ex) when (!_abort.IsCancellationRequested)
            {
                LogWriteFailed(ex, batch.Count, attempt);
                try
                {
                    await Task.Delay(TimeSpan.FromMilliseconds(Math.Min(5000, 250 * attempt)), _time, _abort.Token);
                }
                catch (OperationCanceledException)
                {
                    Drop(batch.Count, "the history store failed and the host is stopping");
                    break;
                }
            }
            catch (OperationCanceledException)
            {
                Drop(batch.Count, "the host stopped before the history was written");
                break;
            }
        }

        batch.Clear();
        foreach (var twin in waiting)
        {
            if (written)
            {
                twin.TrySetResult();
            }
            else
            {
                twin.TrySetException(new OperationCanceledException("The host stopped before these readings were written to the history."));
            }
        }

        waiting.Clear();
    }

    private async Task CleanupLoopAsync()
    {
        // The first round soon after start (a process restarted hourly still cleans up), then every interval.
        var delay = _options.CleanupInterval < TimeSpan.FromMinutes(1) ? _options.CleanupInterval : TimeSpan.FromMinutes(1);
        while (!_abort.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(delay, _time, _abort.Token);
            }
            catch (OperationCanceledException)
            {
                return;
            }

            delay = _options.CleanupInterval;
            try
            {
                var now = _time.GetUtcNow();
                var purged = await _store.PurgeAsync(now - _options.RawRetention, now - _options.AggregateRetention, _options.CleanupBatchSize, _abort.Token);
                if (purged.Raw > 0 || purged.Aggregates > 0)
                {
                    LogPurged(purged.Raw, purged.Aggregates);
                }
            }
            catch (OperationCanceledException) when (_abort.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex)
            {
                LogCleanupFailed(ex);
            }
        }
    }

    private void Drop(int readings, string reason)
    {
        var total = Interlocked.Add(ref _dropped, readings);
        var batches = Interlocked.Increment(ref _droppedBatches);
        _droppedCounter?.Add(readings);

        // One line per interval at most: a full queue drops many batches in a row.
        var now = _time.GetTimestamp();
        var last = Interlocked.Read(ref _lastDropLog);
        if ((last == long.MinValue || _time.GetElapsedTime(last, now) >= DropLogInterval)
            && Interlocked.CompareExchange(ref _lastDropLog, now, last) == last)
        {
            LogDropped(readings, reason, batches, total);
        }
    }

    private static bool TrySplit(string key, out string factory, out string machine)
    {
        var slash = key.IndexOf('/', StringComparison.Ordinal);
        if (slash <= 0 || slash == key.Length - 1)
        {
            factory = machine = "";
            return false;
        }

        factory = key[..slash];
        machine = key[(slash + 1)..];
        return true;
    }

    [LoggerMessage(EventId = TwinEvents.HistoryWriterDropped, Level = LogLevel.Warning, Message = "Dropped a batch of {Readings} readings from the history: {Reason} (dropped so far: {Batches} batches, {Total} readings)")]
    private partial void LogDropped(int readings, string reason, long batches, long total);

    [LoggerMessage(EventId = TwinEvents.HistoryWriterWriteFailed, Level = LogLevel.Error, Message = "Writing {Readings} readings to the history failed (attempt {Attempt}); retrying")]
    private partial void LogWriteFailed(Exception exception, int readings, int attempt);

    [LoggerMessage(EventId = TwinEvents.HistoryWriterRecovered, Level = LogLevel.Information, Message = "Wrote {Readings} readings to the history after {Attempt} attempts")]
    private partial void LogRecovered(int readings, int attempt);

    [LoggerMessage(EventId = TwinEvents.HistoryWriterPurged, Level = LogLevel.Information, Message = "History cleanup deleted {Raw} raw readings and {Aggregates} minute aggregates past their retention")]
    private partial void LogPurged(long raw, long aggregates);

    [LoggerMessage(EventId = TwinEvents.HistoryWriterCleanupFailed, Level = LogLevel.Error, Message = "History cleanup failed; trying again at the next interval")]
    private partial void LogCleanupFailed(Exception exception);

    [LoggerMessage(EventId = TwinEvents.HistoryWriterBadKey, Level = LogLevel.Error, Message = "Ignored {Readings} history readings of '{Key}', which is not a machine key (factory/machine)")]
    private partial void LogBadKey(string key, int readings);

    private sealed record Item(string MachineKey, IReadOnlyList<HistoryPoint> Points, TaskCompletionSource? Done, bool Flush = false);
}
