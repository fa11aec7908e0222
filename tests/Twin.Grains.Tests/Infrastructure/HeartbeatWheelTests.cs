using Microsoft.Extensions.Time.Testing;
using Twin.Grains.Infrastructure;

namespace Twin.Grains.Tests.Infrastructure;

public sealed class HeartbeatWheelTests
{
    private static readonly TimeSpan Period = TimeSpan.FromSeconds(16);

    [Fact]
    public void Every_twin_is_called_once_a_period_on_its_own_scheduler()
    {
        var time = new FakeTimeProvider();
        using var wheel = new HeartbeatWheel(time);
        var twins = Enumerable.Range(0, 100).Select(_ => new Twin()).ToList();
        foreach (var (twin, i) in twins.Select((t, i) => (t, i)))
        {
            wheel.Join(twin, Period);
            // Joined at different moments within the period.
            if (i % 10 == 9)
            {
                Run(time, Period / HeartbeatWheel.Slots);
            }
        }

        // Not before 15/16 of a period after joining.
        Assert.All(twins, t => Assert.Equal(0, t.Beats));
        for (var period = 1; period <= 3; period++)
        {
            Run(time, Period);
            Assert.All(twins, t => Assert.Equal(period, t.Beats));
        }

        Assert.All(twins, t => Assert.Equal(t.Beats, t.Context.Queued));
    }

    [Fact]
    public void A_stopped_or_deactivated_twin_is_forgotten()
    {
        var time = new FakeTimeProvider();
        using var wheel = new HeartbeatWheel(time);
        var stopped = new Twin();
        var gone = new Twin();
        var live = new Twin();
        wheel.Join(stopped, Period);
        wheel.Join(gone, Period);
        wheel.Join(live, Period);
        Run(time, Period);
        Assert.Equal([1, 1, 1], new[] { stopped.Beats, gone.Beats, live.Beats });

        stopped.Stopped = true;
        gone.Context.Deactivate();
        Run(time, Period);
        Run(time, Period);
        Assert.Equal([1, 1, 3], new[] { stopped.Beats, gone.Beats, live.Beats });
        Assert.Equal(1, wheel.Count);
    }

    [Fact]
    public void Twins_with_different_periods_keep_their_own()
    {
        var time = new FakeTimeProvider();
        using var wheel = new HeartbeatWheel(time);
        var fast = new Twin();
        var slow = new Twin();
        wheel.Join(fast, Period);
        wheel.Join(slow, Period * 4);
        Run(time, Period * 4);
        Assert.Equal(4, fast.Beats);
        Assert.Equal(1, slow.Beats);
    }

    [Fact]
    public void A_twin_that_needs_a_check_sooner_is_called_within_a_tick_of_it()
    {
        var time = new FakeTimeProvider();
        using var wheel = new HeartbeatWheel(time);
        var tick = Period / HeartbeatWheel.Slots;
        var start = time.GetUtcNow();

        // Read at each call: due 5.3 ticks after the first, and one not due within the period.
        var due = start + Period + (tick * 5.3);
        var quiet = new Twin { Time = time, Due = due.UtcTicks };
        var talking = new Twin { Time = time, Due = (start + (Period * 3)).UtcTicks };
        wheel.Join(quiet, Period);
        wheel.Join(talking, Period);
        Run(time, Period);
        Assert.Equal([1, 1], new[] { quiet.Beats, talking.Beats });

        // Called at the first tick at or after that moment, not a period later.
        for (var i = 1; i <= 5; i++)
        {
            Run(time, tick);
            Assert.Equal(1, quiet.Beats);
        }

        Run(time, tick);
        Assert.Equal(2, quiet.Beats);
        Assert.True(quiet.LastBeat >= due && quiet.LastBeat - due < tick, $"called at {quiet.LastBeat}, due {due}");

        // Checked: with the moment behind it, it keeps its period from that check.
        Run(time, Period - tick);
        Assert.Equal(2, quiet.Beats);
        Run(time, tick);
        Assert.Equal(3, quiet.Beats);

        // A moment further than the period changes nothing: once a period, as before.
        Assert.Equal(2, talking.Beats);
        Assert.Equal(2, wheel.Count);
    }

    [Fact]
    public void A_due_moment_that_moves_later_before_it_comes_keeps_the_period()
    {
        var time = new FakeTimeProvider();
        using var wheel = new HeartbeatWheel(time);
        var tick = Period / HeartbeatWheel.Slots;
        var twin = new Twin { Time = time, Due = (time.GetUtcNow() + Period + (tick * 4)).UtcTicks };
        wheel.Join(twin, Period);
        Run(time, Period);
        Assert.Equal(1, twin.Beats);

        // Heard again two ticks later: its moment now lies past the period.
        Run(time, tick * 2);
        twin.Due = (time.GetUtcNow() + (Period * 2)).UtcTicks;
        Run(time, tick * 13);
        Assert.Equal(1, twin.Beats);
        Run(time, tick);
        Assert.Equal(2, twin.Beats);
    }

    [Fact]
    public void A_twin_that_joins_due_soon_is_called_then_not_a_period_later()
    {
        // An activation after a restart: heard before it, offline in three ticks.
        var time = new FakeTimeProvider();
        using var wheel = new HeartbeatWheel(time);
        var tick = Period / HeartbeatWheel.Slots;
        var soon = new Twin { Time = time, Due = (time.GetUtcNow() + (tick * 2.5)).UtcTicks };
        var late = new Twin { Time = time, Due = (time.GetUtcNow() - tick).UtcTicks };
        wheel.Join(soon, Period);
        wheel.Join(late, Period);
        Run(time, tick);
        Assert.Equal([0, 1], new[] { soon.Beats, late.Beats });
        Run(time, tick * 2);
        Assert.Equal(1, soon.Beats);
        Assert.True(soon.LastBeat.UtcTicks >= soon.Due && soon.LastBeat.UtcTicks - soon.Due < tick.Ticks, $"called at {soon.LastBeat}");
    }

    [Fact]
    public void After_a_pause_the_twins_due_meanwhile_are_called_at_once_and_each_once()
    {
        var time = new FakeTimeProvider();
        using var wheel = new HeartbeatWheel(time);
        var tick = Period / HeartbeatWheel.Slots;
        var start = time.GetUtcNow();
        var twins = Enumerable.Range(0, 16).Select(i => new Twin { Time = time, Due = (start + Period + (tick * (i + 0.5))).UtcTicks }).ToList();
        var talking = new Twin { Time = time, Due = (start + (Period * 5)).UtcTicks };
        foreach (var twin in twins.Append(talking))
        {
            wheel.Join(twin, Period);
        }

        Run(time, Period);
        Assert.All(twins.Append(talking), t => Assert.Equal(1, t.Beats));

        // The process stops (SIGSTOP, a long GC) for more than a period; the timer's callbacks pile
        // up and all run when it resumes, with the clock already past every moment.
        time.Advance(Period * 1.5);
        Assert.All(twins, t => Assert.Equal(2, t.Beats));
        Assert.Equal(2, talking.Beats);

        // Then on as before: once a period.
        Run(time, Period);
        Assert.All(twins.Append(talking), t => Assert.Equal(3, t.Beats));
    }

    [Fact]
    public void A_clock_set_back_does_not_stop_the_wheel()
    {
        var time = new FakeTimeProvider();
        var wall = new SetBackClock(time);
        using var wheel = new HeartbeatWheel(wall);
        var twin = new Twin();
        wheel.Join(twin, Period);
        Run(time, Period);
        Assert.Equal(1, twin.Beats);

        // NTP moves the wall clock an hour back; the timer goes on as before.
        wall.Offset = -TimeSpan.FromHours(1);
        Run(time, Period);
        Assert.Equal(2, twin.Beats);
    }

    /// <summary>A wall clock that can be set back, over timers that run on as before.</summary>
    private sealed class SetBackClock(FakeTimeProvider inner) : TimeProvider
    {
        public TimeSpan Offset { get; set; }

        public override DateTimeOffset GetUtcNow() => inner.GetUtcNow() + Offset;

        public override long GetTimestamp() => inner.GetTimestamp();

        public override long TimestampFrequency => inner.TimestampFrequency;

        public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period) => inner.CreateTimer(callback, state, dueTime, period);
    }

    /// <summary>The clock running as it does: in steps well under a tick, every timer called on its way.</summary>
    private static void Run(FakeTimeProvider time, TimeSpan span)
    {
        var step = Period / HeartbeatWheel.Slots / 4;
        for (; span >= step; span -= step)
        {
            time.Advance(step);
        }

        if (span > TimeSpan.Zero)
        {
            time.Advance(span);
        }
    }

    private sealed class Twin : IHeartbeat
    {
        public FakeContext Context { get; } = new();

        public IGrainContext GrainContext => Context;

        public bool Stopped { get; set; }

        public bool HeartbeatStopped => Stopped;

        public int Beats { get; private set; }

        public DateTimeOffset LastBeat { get; private set; }

        public long Due { get; set; } = long.MaxValue;

        public long CheckDue => Due;

        public FakeTimeProvider? Time { get; init; }

        public void Beat()
        {
            Assert.True(Context.Running, "called outside the activation's scheduler");
            Beats++;
            LastBeat = Time?.GetUtcNow() ?? default;
        }
    }

    /// <summary>An activation's context: runs queued work at once, marking it as on its scheduler.</summary>
    private sealed class FakeContext : IGrainContext, IWorkItemScheduler
    {
        private readonly TaskCompletionSource _deactivated = new();

        public bool Running { get; private set; }

        public int Queued { get; private set; }

        public void Deactivate() => _deactivated.TrySetResult();

        public IWorkItemScheduler Scheduler => this;

        public Task Deactivated => _deactivated.Task;

        public void QueueAction(Action action) => QueueAction(_ => action(), this);

        public void QueueAction(Action<object> action, object state)
        {
            Queued++;
            Running = true;
            action(state);
            Running = false;
        }

        public void QueueTask(Task task) => throw new NotSupportedException();

        public GrainReference GrainReference => throw new NotSupportedException();

        public GrainId GrainId => GrainId.Create("test", Guid.NewGuid().ToString("N"));

        public object? GrainInstance => null;

        public ActivationId ActivationId => throw new NotSupportedException();

        public GrainAddress Address => throw new NotSupportedException();

        public IServiceProvider ActivationServices => throw new NotSupportedException();

        public IGrainLifecycle ObservableLifecycle => throw new NotSupportedException();

        public void SetComponent<TComponent>(TComponent? value) where TComponent : class => throw new NotSupportedException();

        public object? GetComponent(Type componentType) => null;

        public object? GetTarget() => null;

        public void ReceiveMessage(object message) => throw new NotSupportedException();

        public void Activate(Dictionary<string, object>? requestContext, CancellationToken cancellationToken) => throw new NotSupportedException();

        public void Deactivate(DeactivationReason deactivationReason, CancellationToken cancellationToken) => throw new NotSupportedException();

        public void Rehydrate(IRehydrationContext context) => throw new NotSupportedException();

        public void Migrate(Dictionary<string, object>? requestContext, CancellationToken cancellationToken) => throw new NotSupportedException();

        public bool Equals(IGrainContext? other) => ReferenceEquals(this, other);
    }
}
