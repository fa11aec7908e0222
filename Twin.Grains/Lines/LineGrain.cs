using System.Collections.Immutable;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Twin.Factories;
using Twin.Grains.Domain;
using Twin.Grains.Infrastructure;
using Twin.Grains.Kpis;
using Twin.Grains.Live;
using Twin.Kpis;
using Twin.Lines;
using Twin.Live;
using Twin.Machines;

namespace Twin.Grains.Lines;

[GenerateSerializer, Alias("twin.LineState")]
public sealed class LineState
{
    [Id(0)] public long Version { get; set; }
    [Id(1)] public string? Name { get; set; }
    [Id(2)] public List<string> Machines { get; set; } = [];
    [Id(3)] public bool Defined { get; set; }
}

/// <summary>
/// The line twin: master data here, live figures asked of its machines when read. A defined line
/// stays active and computes its OEE and bottleneck on a timer for the factory KPIs, which then
/// read them without asking the line.
/// </summary>
public sealed partial class LineGrain(
    [PersistentState("line", TwinStorage.Name)] IPersistentState<LineState> state,
    TwinClock clock,
    ILogger<LineGrain> logger) : Grain, ILineGrain
{
    /// <summary>How often a defined line refreshes its figures in the factory KPIs.</summary>
    public static readonly TimeSpan KpiPeriod = TimeSpan.FromSeconds(10);

    private KpiFeed? _kpis;
    private GroupCommit? _commit;

    public override Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken) =>
        _commit?.CloseAsync(cancellationToken) ?? Task.CompletedTask;
    private IGrainTimer? _kpiTimer;
    private LineKpiReport? _latest;

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        _kpis = new KpiFeed(this, SendKpisAsync, ex => LogKpiFailed(ex, this.GetPrimaryKeyString()), TimeSpan.Zero);
        if (state.State.Defined)
        {
            StartKpiTimer();
        }

        return Task.CompletedTask;
    }

    // Kept alive by the timer: line figures change with time passing, not only with calls.
    private void StartKpiTimer() =>
        _kpiTimer ??= this.RegisterGrainTimer(
            async _ => await GetPerformanceAsync(),
            new GrainTimerCreationOptions(TimeSpan.FromSeconds(1), KpiPeriod) { KeepAlive = true });

    private async Task SendKpisAsync()
    {
        if (_latest is { } report)
        {
            await GrainFactory.GetGrain<IFactoryKpiGrain>(TwinKey.Split(this.GetPrimaryKeyString()).Factory).ReportLineAsync(report);
        }
    }

    [LoggerMessage(EventId = TwinEvents.LineGrainKpiFailed, Level = LogLevel.Warning, Message = "Line {Line} could not report to the factory KPIs yet (retried)")]
    private partial void LogKpiFailed(Exception exception, string line);

    public async Task<LineSnapshot> DefineAsync(LineDefinition definition)
    {
        var errors = LineRollup.Validate(definition);
        if (errors.Count > 0)
        {
            throw new TwinRuleException("line.invalid", string.Join("; ", errors));
        }

        var (factory, id) = TwinKey.Split(this.GetPrimaryKeyString());
        var before = state.State.Machines.ToHashSet(StringComparer.Ordinal);
        var after = definition.Machines.ToHashSet(StringComparer.Ordinal);
        var changed = !state.State.Defined
            || state.State.Name != definition.Name
            || !state.State.Machines.SequenceEqual(definition.Machines, StringComparer.Ordinal);

        // A machine of another line refuses before any machine changes (so a refused definition
        // shows nowhere, live feed and publish-back included).
        var elsewhere = (await Task.WhenAll(definition.Machines.Select(async m => (Machine: m, (await Machine(factory, m).GetSummaryAsync()).Line))))
            .Where(m => m.Line is { } other && other != id)
            .Select(m => $"'{m.Machine}' belongs to line '{m.Line}'")
            .ToList();
        if (elsewhere.Count > 0)
        {
            throw new TwinRuleException("line.machine-in-other-line", $"{string.Join("; ", elsewhere)}; remove it from that line first.");
        }

        // Then machines join (each refuses if it belongs to another line), so two lines defined
        // at once cannot both take one machine; on a refusal the joins made are undone.
        var joined = new List<string>();
        var taken = new List<string>();
        foreach (var machine in definition.Machines)
        {
            try
            {
                await Machine(factory, machine).JoinLineAsync(id);
                if (!before.Contains(machine))
                {
                    joined.Add(machine);
                }
            }
            catch (TwinRuleException rule) when (rule.Code == "line.machine-in-other-line")
            {
                taken.Add(rule.Message);
            }
        }

        if (taken.Count > 0)
        {
            await Task.WhenAll(joined.Select(m => Machine(factory, m).LeaveLineAsync(id)));
            throw new TwinRuleException("line.machine-in-other-line", $"{string.Join("; ", taken)}; remove it from that line first.");
        }

        if (changed)
        {
            if (!state.State.Defined)
            {
                await GrainFactory.GetGrain<IFactoryGrain>(factory).RegisterAsync(TwinKind.Line, id);
            }

            // Live views version a line as its own version plus its machines'; a machine that
            // leaves takes its versions with it, so the line absorbs them to keep that sum rising.
            var leaving = before.Except(after).ToList();
            var absorbed = leaving.Count == 0 ? 0 : (await Task.WhenAll(leaving.Select(m => Machine(factory, m).GetSummaryAsync()))).Sum(m => m.Version);
            state.State.Name = definition.Name;
            state.State.Machines = [.. definition.Machines];
            state.State.Version += 1 + absorbed;
            state.State.Defined = true;
            await (_commit ??= new GroupCommit(state, this)).CommitAsync();
            StartKpiTimer();
        }

        await Task.WhenAll(before.Except(after).Select(m => Machine(factory, m).LeaveLineAsync(id)));
        if (changed)
        {
            // Live views of the line (and its factory) follow its members from this change on.
            Live.Changed();
        }

        return await GetSnapshotAsync();
    }

    private LivePublisher? _live;

    private LivePublisher Live => _live ??= new LivePublisher(
        this,
        TwinTopic.FromKey(TwinTopicKind.Line, this.GetPrimaryKeyString()),
        ServiceProvider.GetRequiredService<IOptions<LiveFeedOptions>>().Value,
        () => new TwinChange(TwinTopic.FromKey(TwinTopicKind.Line, this.GetPrimaryKeyString()).ToString(), state.State.Version, null),
        logger);

    public async Task<LineSnapshot> GetSnapshotAsync()
    {
        var (factory, id) = TwinKey.Split(this.GetPrimaryKeyString());
        if (!state.State.Defined)
        {
            throw new TwinRuleException("line.not-found", $"Line '{id}' of factory '{factory}' is not defined.");
        }

        var summaries = await Task.WhenAll(state.State.Machines.Select(m => Machine(factory, m).GetSummaryAsync()));
        var machines = summaries.ToImmutableArray();
        return new LineSnapshot(
            factory,
            id,
            state.State.Version,
            state.State.Name,
            LineRollup.Status(machines),
            LineRollup.Throughput(machines),
            machines.IsDefaultOrEmpty ? 0 : machines[^1].Good,
            machines.Sum(m => m.Scrap),
            machines);
    }

    public async Task<LinePerformance> GetPerformanceAsync()
    {
        var (factory, id) = TwinKey.Split(this.GetPrimaryKeyString());
        if (!state.State.Defined)
        {
            throw new TwinRuleException("line.not-found", $"Line '{id}' of factory '{factory}' is not defined.");
        }

        var oee = Task.WhenAll(state.State.Machines.Select(m => Machine(factory, m).GetOeeAsync()));
        var summaries = Task.WhenAll(state.State.Machines.Select(m => Machine(factory, m).GetSummaryAsync()));
        var performance = LinePerformanceMath.Compute(factory, id, [.. await oee], [.. await summaries]);

        // Whoever asked, the factory KPIs get the figure too (in the background).
        var now = clock.UtcNow;
        _latest = KpiRules.Line(performance, Math.Max(now.UtcTicks, (_latest?.Version ?? 0) + 1), now);
        _kpis!.Kick();
        return performance;
    }

    public Task<bool> ExistsAsync() => Task.FromResult(state.State.Defined);

    private IMachineGrain Machine(string factory, string machine) =>
        GrainFactory.GetGrain<IMachineGrain>(TwinKey.Compose(factory, machine));
}
