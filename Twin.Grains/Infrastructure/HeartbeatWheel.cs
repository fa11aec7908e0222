namespace Twin.Grains.Infrastructure;

/// <summary>An activation the <see cref="HeartbeatWheel"/> calls once a period.</summary>
internal interface IHeartbeat
{
    IGrainContext GrainContext { get; }

    /// <summary>True once the activation is going away: the wheel forgets it.</summary>
    bool HeartbeatStopped { get; }

    /// <summary>Runs on the activation's own scheduler, as a timer tick would; must not throw.</summary>
    void Beat();
}

/// <summary>
/// One timer for a silo's periodic twin checks (a machine's heartbeat: offline, missing signals)
/// instead of a grain timer per twin. A grain timer costs about half a kilobyte per activation
/// (its timer, cancellation source, delegate and the activation's timer set); here a twin costs a
/// slot in a list. Each period is cut into <see cref="Slots"/> ticks; a twin sits in one slot and
/// is called once a period, on its activation's scheduler (so its single-threaded turns hold, and,
/// as with a grain timer, the call does not keep an idle twin from being collected). A twin is
/// forgotten at the first tick after it stops (<see cref="IHeartbeat.HeartbeatStopped"/>) or its
/// activation is gone.
/// </summary>
public sealed class HeartbeatWheel(TimeProvider time) : IDisposable
{
    /// <summary>Ticks per period: a twin's first check comes between 15/16 of a period and a period after it joins.</summary>
    public const int Slots = 16;

    private readonly Lock _lock = new();
    private readonly Dictionary<TimeSpan, Wheel> _wheels = [];
    private bool _disposed;

    /// <summary>Calls <paramref name="target"/> once every <paramref name="period"/> until it stops.</summary>
    internal void Join(IHeartbeat target, TimeSpan period)
    {
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(period, TimeSpan.Zero);
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (!_wheels.TryGetValue(period, out var wheel))
            {
                wheel = new Wheel(time, period);
                _wheels.Add(period, wheel);
            }

            wheel.Add(target);
        }
    }

    /// <summary>Twins in the wheels (stopped ones until the tick that drops them).</summary>
    public int Count
    {
        get
        {
            lock (_lock)
            {
                return _wheels.Values.Sum(w => w.Count);
            }
        }
    }

    public void Dispose()
    {
        lock (_lock)
        {
            _disposed = true;
            foreach (var wheel in _wheels.Values)
            {
                wheel.Dispose();
            }

            _wheels.Clear();
        }
    }

    private sealed class Wheel : IDisposable
    {
        private static readonly Action<object?> BeatOnActivation = static target => ((IHeartbeat)target!).Beat();

        private readonly Lock _lock = new();
        private readonly List<IHeartbeat>[] _slots;
        private readonly ITimer _timer;
        private int _current;

        public Wheel(TimeProvider time, TimeSpan period)
        {
            _slots = [.. Enumerable.Range(0, Slots).Select(_ => new List<IHeartbeat>())];
            var tick = period / Slots;
            _timer = time.CreateTimer(static wheel => ((Wheel)wheel!).Tick(), this, tick, tick);
        }

        public int Count
        {
            get
            {
                lock (_lock)
                {
                    return _slots.Sum(s => s.Count);
                }
            }
        }

        public void Add(IHeartbeat target)
        {
            lock (_lock)
            {
                // The slot whose turn comes last: the first call about a period from now.
                _slots[_current].Add(target);
            }
        }

        private void Tick()
        {
            lock (_lock)
            {
                _current = (_current + 1) % Slots;
                var slot = _slots[_current];
                for (var i = slot.Count - 1; i >= 0; i--)
                {
                    var target = slot[i];
                    if (target.HeartbeatStopped || target.GrainContext.Deactivated.IsCompleted)
                    {
                        // Order within a slot does not matter: swap with the last and drop it.
                        slot[i] = slot[^1];
                        slot.RemoveAt(slot.Count - 1);
                        continue;
                    }

                    target.GrainContext.Scheduler.QueueAction(BeatOnActivation, target);
                }

                if (slot.Capacity > 64 && slot.Count < slot.Capacity / 4)
                {
                    // Twins that left give their room back.
                    slot.Capacity = slot.Count * 2;
                }
            }
        }

        public void Dispose() => _timer.Dispose();
    }
}
