namespace Twin.Grains.Infrastructure;

/// <summary>An activation the <see cref="HeartbeatWheel"/> calls once a period.</summary>
internal interface IHeartbeat
{
    IGrainContext GrainContext { get; }

    /// <summary>True once the activation is going away: the wheel forgets it.</summary>
    bool HeartbeatStopped { get; }

    /// <summary>
    /// UTC ticks of a moment the activation needs a check before its period is up (a machine: when
    /// it goes offline), or <see cref="long.MaxValue"/>. Read by the wheel's timer off the
    /// activation's scheduler, so it must not touch grain state (a field the activation writes on its
    /// own turns), and it is only a hint: a stale value costs a check or delays one until the period,
    /// never more.
    /// </summary>
    long CheckDue { get; }

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
/// activation is gone. A twin that needs a check sooner (<see cref="IHeartbeat.CheckDue"/>) moves
/// to the slot of that moment and is called within a tick of it: a machine gone quiet is recorded
/// offline about when reads start showing it, not up to half a period later. A twin that keeps
/// talking never moves (its offline moment is always further than its period).
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
        private readonly List<Entry>[] _slots;
        private readonly TimeProvider _time;
        private readonly ITimer _timer;
        private readonly long _tick;
        private long _ticks;
        private long _nextVisit;
        private int _current;

        public Wheel(TimeProvider time, TimeSpan period)
        {
            _slots = [.. Enumerable.Range(0, Slots).Select(_ => new List<Entry>())];
            _time = time;
            var tick = period / Slots;
            _tick = Math.Max(tick.Ticks, 1);
            _nextVisit = time.GetUtcNow().UtcTicks + _tick;
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
                // The slot whose turn comes last (the first call about a period from now), or
                // sooner when the twin needs it (an activation after a restart, due offline soon).
                var entry = new Entry(target, _ticks + Slots);
                var now = _time.GetUtcNow().UtcTicks;
                var due = target.CheckDue;
                _slots[(int)((_current + (due <= now ? 1 : Steps(entry, due, now))) % Slots)].Add(entry);
            }
        }

        /// <summary>
        /// Visits each slot whose turn has come by the clock: one per tick, and, when the timer comes
        /// late (a pause: GC, SIGSTOP, an overloaded machine), every slot whose turn passed meanwhile,
        /// at most one whole turn, each as of the moment its turn was, so a twin due offline during
        /// the pause is called now, not up to a period later. Callbacks that pile up behind a late
        /// one find nothing due.
        /// </summary>
        private void Tick()
        {
            lock (_lock)
            {
                var now = _time.GetUtcNow().UtcTicks;
                if (_nextVisit > now + (2 * _tick))
                {
                    // The clock was set back: go on from now rather than wait for it to catch up.
                    _nextVisit = now;
                }

                for (var visits = 0; visits < Slots && _nextVisit <= now + (_tick / 2); visits++)
                {
                    Visit(Math.Min(_nextVisit, now));
                    _nextVisit += _tick;
                }

                if (_nextVisit <= now)
                {
                    // Paused for more than a turn: every twin was visited once; go on from now.
                    _nextVisit = now + _tick;
                }
            }
        }

        private void Visit(long now)
        {
            _ticks++;
            _current = (_current + 1) % Slots;
            var slot = _slots[_current];
            for (var i = slot.Count - 1; i >= 0; i--)
            {
                var entry = slot[i];
                var target = entry.Target;
                if (target.HeartbeatStopped || target.GrainContext.Deactivated.IsCompleted)
                {
                    Remove(slot, i);
                    continue;
                }

                var due = target.CheckDue;
                if (_ticks >= entry.PeriodTick || now >= due)
                {
                    target.GrainContext.Scheduler.QueueAction(BeatOnActivation, target);
                    entry = entry with { PeriodTick = _ticks + Slots };
                }

                var steps = Steps(entry, due, now);
                if (steps == Slots)
                {
                    slot[i] = entry;
                }
                else
                {
                    // Called sooner than a period from now: into the slot of that moment.
                    Remove(slot, i);
                    _slots[(int)((_current + steps) % Slots)].Add(entry);
                }
            }

            if (slot.Capacity > 64 && slot.Count < slot.Capacity / 4)
            {
                slot.TrimExcess();
            }
        }

        /// <summary>
        /// Ticks until the entry's next call: its period (counted in ticks), or its due moment by the
        /// clock if that is sooner and still ahead (one that has passed was the reason for the call
        /// just made: the hint is stale until that call has run).
        /// </summary>
        private long Steps(Entry entry, long due, long now)
        {
            var steps = entry.PeriodTick - _ticks;
            if (due > now)
            {
                steps = Math.Min(steps, ((due - now) / _tick) + ((due - now) % _tick == 0 ? 0 : 1));
            }

            return Math.Clamp(steps, 1, Slots);
        }

        // Order within a slot does not matter: swap with the last and drop it.
        private static void Remove(List<Entry> slot, int i)
        {
            slot[i] = slot[^1];
            slot.RemoveAt(slot.Count - 1);
        }

        public void Dispose() => _timer.Dispose();

        /// <summary>A twin and the wheel tick at which its period is next up.</summary>
        private readonly record struct Entry(IHeartbeat Target, long PeriodTick);
    }
}
