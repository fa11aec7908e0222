using System.Collections.Immutable;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Twin.Effects;
using Twin.Factories;
using Twin.Grains.Infrastructure;
using Twin.Grains.Maintenance;
using Twin.Grains.Quality;
using Twin.Machines;
using Twin.Maintenance;
using Twin.Quality;

namespace Twin.Grains.Effects;

[GenerateSerializer, Alias("twin.ActionEffectState")]
public sealed class ActionEffectState
{
    /// <summary>Tracked actions, oldest first.</summary>
    [Id(0)] public List<TrackedAction> Actions { get; set; } = [];
}

[GenerateSerializer, Alias("twin.ActionTracked")]
public sealed class TrackedAction
{
    [Id(0)] public required ActionRecord Action { get; set; }
    [Id(1)] public ActionStatus Status { get; set; }
    [Id(2)] public TimeSpan Window { get; set; }
    [Id(3)] public DateTimeOffset TrackedAt { get; set; }
    [Id(4)] public DateTimeOffset? VerifiedAt { get; set; }

    /// <summary>Before figures as captured when tracked (Cpk cannot be recomputed later: charts keep only their latest points), then both sides.</summary>
    [Id(5)] public List<EffectFigure> Figures { get; set; } = [];
}

/// <summary>
/// The effect reports of one factory's actions. Captures the "before" figures when an action is
/// tracked; a timer (while active) and a reminder (across deactivation and restarts) look for
/// actions whose "after" window has passed in the machine's event time and complete their reports.
/// </summary>
public sealed partial class ActionEffectGrain(
    [PersistentState("effects", TwinStorage.Name)] IPersistentState<ActionEffectState> state,
    IOptions<EffectOptions> options,
    IHistoryReader history,
    TwinMetrics metrics,
    TwinClock clock,
    ILogger<ActionEffectGrain> logger) : Grain, IActionEffectGrain, IRemindable
{
    public const string Reminder = "effects";

    private const int MaxReadingsPerSensor = 200_000;

    private GroupCommit? _commit;
    private IGrainTimer? _timer;
    private bool _checking;
    private bool? _reminder;

    private string Factory => this.GetPrimaryKeyString();

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        _commit = new GroupCommit(state, this);
        metrics.Activated("effects");
        if (state.State.Actions.Exists(a => a.Status == ActionStatus.Open))
        {
            // Back after a deactivation or a restart: a report may be due already.
            StartTimer(TimeSpan.FromMilliseconds(100));
        }

        return Task.CompletedTask;
    }

    public override Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        metrics.Deactivated("effects");
        return _commit?.CloseAsync(cancellationToken) ?? Task.CompletedTask;
    }

    public async Task<ActionEffect> TrackAsync(ActionRecord action)
    {
        if (state.State.Actions.Find(a => a.Action.Id == action.Id) is { } known)
        {
            return ToEffect(known);
        }

        var window = options.Value.Window;
        var tracked = new TrackedAction { Action = action, Status = ActionStatus.Open, Window = window, TrackedAt = clock.UtcNow };
        tracked.Figures = [.. EffectRules.Open(await FiguresAsync(action, window, verify: false, before: null))];
        state.State.Actions.Add(tracked);
        Trim();
        await _commit!.CommitAsync();
        LogTracked(Factory, action.Id, action.Kind, action.Machine ?? "-", action.At, window);
        await ScheduleAsync();
        return ToEffect(tracked);
    }

    public Task<ActionEffect?> GetAsync(string actionId) =>
        Task.FromResult(state.State.Actions.Find(a => a.Action.Id == actionId) is { } a ? ToEffect(a) : null);

    public Task<ImmutableArray<ActionEffect>> ListAsync(ActionStatus? status) =>
        Task.FromResult(state.State.Actions.AsEnumerable().Reverse().Where(a => status is null || a.Status == status).Select(ToEffect).ToImmutableArray());

    public Task<ImmutableDictionary<string, ActionEffectSummary>> ForTicketsAsync()
    {
        var result = ImmutableDictionary.CreateBuilder<string, ActionEffectSummary>(StringComparer.Ordinal);
        foreach (var a in state.State.Actions)
        {
            if (a.Action.Ticket is { } ticket)
            {
                result[ticket] = new ActionEffectSummary(a.Action.Id, a.Status, Summary(a));
            }
        }

        return Task.FromResult(result.ToImmutable());
    }

    public async Task ReceiveReminder(string reminderName, TickStatus status)
    {
        if (reminderName == Reminder)
        {
            _reminder = true;
            await CheckAsync();
        }
    }

    /// <summary>Completes every open action whose "after" window has passed.</summary>
    private async Task CheckAsync()
    {
        if (_checking)
        {
            return;
        }

        _checking = true;
        try
        {
            var verified = new List<TrackedAction>();
            foreach (var tracked in state.State.Actions.Where(a => a.Status == ActionStatus.Open).ToList())
            {
                var action = tracked.Action;
                DateTimeOffset? heard = clock.UtcNow;
                if (action.Machine is { } machine)
                {
                    try
                    {
                        heard = (await Machine(machine).ProbeEffectAsync(action.Id, action.At, tracked.Window, release: false)).HeardUntil;
                    }
                    catch (Exception ex)
                    {
                        LogProbeFailed(ex, Factory, action.Id, machine);
                        continue;
                    }
                }

                if (!EffectRules.IsDue(action.At, tracked.Window, heard, clock.UtcNow, options.Value.MaxWait))
                {
                    continue;
                }

                tracked.Figures = [.. await FiguresAsync(action, tracked.Window, verify: true, before: tracked.Figures)];
                tracked.Status = ActionStatus.Verified;
                tracked.VerifiedAt = clock.UtcNow;
                metrics.ActionVerified(action.Kind.ToString());
                var summary = Summary(tracked);
                LogVerified(Factory, action.Id, summary);
                verified.Add(tracked);
            }

            if (verified.Count > 0)
            {
                await _commit!.CommitAsync();
                foreach (var done in verified.Where(a => a.Action.Machine is not null))
                {
                    try
                    {
                        await Machine(done.Action.Machine!).ProbeEffectAsync(done.Action.Id, done.Action.At, done.Window, release: true);
                    }
                    catch (Exception ex)
                    {
                        // The watch stays until the machine drops its oldest: harmless.
                        LogProbeFailed(ex, Factory, done.Action.Id, done.Action.Machine!);
                    }
                }
            }

            await ScheduleAsync();
        }
        finally
        {
            _checking = false;
        }
    }

    /// <summary>
    /// The figures of an action. When tracked (<paramref name="verify"/> false): the before sides
    /// only. When verified: both; the Cpk, OEE and scrap before sides stay as captured, the
    /// anomaly and failure before sides are read again (the history is complete by now).
    /// </summary>
    private async Task<List<EffectFigure>> FiguresAsync(ActionRecord action, TimeSpan window, bool verify, List<EffectFigure>? before)
    {
        var figures = new List<EffectFigure>();
        if (action.Machine is not { } machine)
        {
            return figures;
        }

        EffectSide Kept(string kpi, string of, EffectSide fresh) =>
            before?.Find(f => f.Kpi == kpi && f.Of == of)?.Before ?? fresh;

        var at = action.At;
        EffectProbe probe;
        try
        {
            probe = await Machine(machine).ProbeEffectAsync(action.Id, at, window, release: false);
        }
        catch (Exception ex)
        {
            LogProbeFailed(ex, Factory, action.Id, machine);
            probe = new EffectProbe(Empty("before", at - window, at), Empty("after", at, at + window), 0, 0, null, null, [], false);
        }

        // OEE and scrap: before from the machine's buckets; after with the parts counted one by one.
        var afterOee = EffectRules.WithParts(probe.After, probe.AfterGood, probe.AfterScrap, probe.IdealCycleTime);
        figures.Add(EffectRules.Compare("oee", machine, Kept("oee", machine, EffectRules.OeeSide(probe.Before)), verify ? EffectRules.OeeSide(afterOee) : null));
        figures.Add(EffectRules.Compare("scrapRate", machine, Kept("scrapRate", machine, EffectRules.ScrapSide(probe.Before.Good, probe.Before.Scrap)),
            verify ? probe.Watched ? EffectRules.ScrapSide(probe.AfterGood, probe.AfterScrap) : new EffectSide(null, 0, "parts", null, "the machine's part watch was lost") : null));

        var (beforeReadings, afterReadings, unavailable) = await ReadingsAsync(machine, probe.Sensors, at, window);
        figures.Add(EffectRules.Compare("anomalyRate", machine, EffectRules.AnomalySide(beforeReadings, unavailable), verify ? EffectRules.AnomalySide(afterReadings, unavailable) : null));

        // Failures are counted when the report is made: ticket opening times do not roll away.
        var (failuresBefore, failuresAfter) = verify ? await FailuresAsync(machine, at, window) : (0, 0);
        var beforeRun = probe.Before.RunSeconds;
        if (verify)
        {
            figures.Add(EffectRules.Compare("failures", machine, EffectRules.FailureSide(failuresBefore, beforeRun), EffectRules.FailureSide(failuresAfter, probe.After.RunSeconds)));
            figures.Add(EffectRules.Compare("mtbfHours", machine, EffectRules.MtbfSide(failuresBefore, beforeRun), EffectRules.MtbfSide(failuresAfter, probe.After.RunSeconds)));
        }

        foreach (var (key, chart) in await ChartsAsync(action))
        {
            var of = $"{key.Machine}/{key.Characteristic}";
            var beforeCpk = Kept("cpk", of, chart is null ? new EffectSide(null, 0, "subgroups", null, "chart not readable") : EffectRules.CpkSide(chart.Points, chart.Spec, at - window, at));
            EffectSide? afterCpk = !verify ? null
                : chart is null ? new EffectSide(null, 0, "subgroups", null, "chart not readable")
                : EffectRules.CpkSide(chart.Points, chart.Spec, at, at + window);
            figures.Add(EffectRules.Compare("cpk", of, beforeCpk, afterCpk));
        }

        return figures;
    }

    private static Twin.Machines.OeeFigures Empty(string name, DateTimeOffset from, DateTimeOffset to) => new(name, from, to, 0, 0, 0, 0, 0, 0, null, null, null, null);

    private async Task<(ReadingCount? Before, ReadingCount? After, string? Unavailable)> ReadingsAsync(string machine, ImmutableArray<string> sensors, DateTimeOffset at, TimeSpan window)
    {
        if (history.UnavailableReason is { } reason)
        {
            return (null, null, reason);
        }

        long br = 0, ba = 0, ar = 0, aa = 0;
        foreach (var sensor in sensors)
        {
            try
            {
                var (points, _) = await SensorWindowStatistics.ReadAsync(history, Factory, machine, sensor, at - window, at + window, MaxReadingsPerSensor);
                var b = EffectRules.CountReadings(points, at - window, at, options.Value.AnomalyScore);
                var a = EffectRules.CountReadings(points, at, at + window, options.Value.AnomalyScore);
                (br, ba, ar, aa) = (br + b.Readings, ba + b.Anomalous, ar + a.Readings, aa + a.Anomalous);
            }
            catch (Exception ex)
            {
                LogHistoryFailed(ex, Factory, machine, sensor);
                return (null, null, $"the history of {sensor} could not be read");
            }
        }

        return (new ReadingCount(br, ba), new ReadingCount(ar, aa), null);
    }

    /// <summary>Machine-fault tickets (not quality ones) opened in each window.</summary>
    private async Task<(int Before, int After)> FailuresAsync(string machine, DateTimeOffset at, TimeSpan window)
    {
        try
        {
            var desks = await GrainFactory.GetGrain<IFactoryGrain>(Factory).ListAsync(TwinKind.TicketDesk);
            var lists = await Task.WhenAll(desks
                .Where(d => d.StartsWith(machine + ".", StringComparison.Ordinal))
                .Select(d => TicketDeskKey.TryParseId(Factory, d, out var key) ? key : (TicketDeskKey?)null)
                .OfType<TicketDeskKey>()
                .Where(k => k.Machine == machine && k.Characteristic is null)
                .Select(k => GrainFactory.GetGrain<IMaintenanceTicketGrain>(k.GrainKey).ListAsync()));
            var opened = lists.SelectMany(l => l).Select(t => t.OpenedAt).ToList();
            return (opened.Count(t => t >= at - window && t < at), opened.Count(t => t >= at && t < at + window));
        }
        catch (Exception ex)
        {
            LogProbeFailed(ex, Factory, "tickets", machine);
            return (0, 0);
        }
    }

    private async Task<List<(CharacteristicKey Key, CharacteristicSnapshot? Chart)>> ChartsAsync(ActionRecord action)
    {
        var keys = new List<CharacteristicKey>();
        if (action.Characteristic is { } named)
        {
            keys.Add(new CharacteristicKey(Factory, action.Machine!, named));
        }
        else
        {
            try
            {
                foreach (var id in await GrainFactory.GetGrain<IFactoryGrain>(Factory).ListAsync(TwinKind.Characteristic))
                {
                    if (CharacteristicKey.TryParseId(Factory, id, out var key) && key.Machine == action.Machine)
                    {
                        keys.Add(key);
                    }
                }
            }
            catch (Exception ex)
            {
                LogProbeFailed(ex, Factory, action.Id, "characteristics");
            }
        }

        var result = new List<(CharacteristicKey, CharacteristicSnapshot?)>();
        foreach (var key in keys)
        {
            try
            {
                result.Add((key, await GrainFactory.GetGrain<ICharacteristicGrain>(key.GrainKey).GetAsync()));
            }
            catch (Exception ex)
            {
                LogProbeFailed(ex, Factory, action.Id, key.GrainKey);
                result.Add((key, null));
            }
        }

        return result;
    }

    private IMachineGrain Machine(string machine) => GrainFactory.GetGrain<IMachineGrain>(TwinKey.Compose(Factory, machine));

    /// <summary>While any action is open: a timer (active) and the reminder (across deactivation). Neither when none is.</summary>
    private async Task ScheduleAsync()
    {
        if (state.State.Actions.Exists(a => a.Status == ActionStatus.Open))
        {
            if (_timer is null)
            {
                StartTimer(options.Value.CheckInterval);
            }

            if (_reminder != true)
            {
                var period = options.Value.CheckInterval < TimeSpan.FromMinutes(1) ? TimeSpan.FromMinutes(1) : options.Value.CheckInterval;
                await this.RegisterOrUpdateReminder(Reminder, period, period);
                _reminder = true;
            }
        }
        else
        {
            _timer?.Dispose();
            _timer = null;
            if (_reminder != false)
            {
                if (await this.GetReminder(Reminder) is { } reminder)
                {
                    await this.UnregisterReminder(reminder);
                }

                _reminder = false;
            }
        }
    }

    private void StartTimer(TimeSpan due) =>
        _timer = this.RegisterGrainTimer(_ => CheckAsync(), new GrainTimerCreationOptions(due, options.Value.CheckInterval));

    /// <summary>Past <see cref="EffectOptions.ActionsKept"/>, the oldest verified actions go (open ones stay).</summary>
    private void Trim()
    {
        while (state.State.Actions.Count > options.Value.ActionsKept && state.State.Actions.FindIndex(a => a.Status == ActionStatus.Verified) is var i and >= 0)
        {
            state.State.Actions.RemoveAt(i);
        }
    }

    private ActionEffect ToEffect(TrackedAction a) =>
        new(Factory, a.Action, a.Status, a.Window, a.VerifiedAt, [.. a.Figures], Summary(a));

    private static string Summary(TrackedAction a) => EffectRules.Summary(a.Status, a.Figures, a.Action.At + a.Window);

    [LoggerMessage(EventId = TwinEvents.ActionEffectGrainTracked, Level = LogLevel.Information, Message = "Factory {Factory} tracks action {Action} ({Kind} on {Machine} at {At}); report after a window of {Window}")]
    private partial void LogTracked(string factory, string action, ActionKind kind, string machine, DateTimeOffset at, TimeSpan window);

    [LoggerMessage(EventId = TwinEvents.ActionEffectGrainVerified, Level = LogLevel.Information, Message = "Factory {Factory} verified the effect of {Action}: {Summary}")]
    private partial void LogVerified(string factory, string action, string summary);

    [LoggerMessage(EventId = TwinEvents.ActionEffectGrainProbeFailed, Level = LogLevel.Warning, Message = "Factory {Factory}: the effect of {Action} could not read {Source} yet (retried at the next check)")]
    private partial void LogProbeFailed(Exception exception, string factory, string action, string source);

    [LoggerMessage(EventId = TwinEvents.ActionEffectGrainHistoryFailed, Level = LogLevel.Warning, Message = "Factory {Factory}: the history of {Machine} {Sensor} could not be read for an effect report")]
    private partial void LogHistoryFailed(Exception exception, string factory, string machine, string sensor);
}
