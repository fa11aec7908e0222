namespace Twin.Planning;

// The scheduling model: a flexible job shop with release times, due dates, weights, machine
// unavailability and setups that a run of the same product saves. Time is one integer axis (the
// cluster uses seconds since the plan's origin); nothing here knows instants, grains or OR-Tools.

/// <summary>A span of time <c>[Start, End)</c> a machine cannot work: outside its calendar, a planned stop, down, a maintenance window.</summary>
public sealed record Unavailability(long Start, long End, string Reason);

/// <summary>A machine with the spans it cannot work (any order; they may overlap).</summary>
public sealed record MachineSpec(string Id, IReadOnlyList<Unavailability> Unavailable)
{
    public MachineSpec(string id)
        : this(id, [])
    {
    }
}

/// <summary>One machine an operation may run on: its run time for the order's quantity and its setup.</summary>
/// <param name="Duration">Run time (all parts).</param>
/// <param name="Setup">Setup before the run; saved when the machine ran the same <see cref="OperationSpec.SetupKey"/> just before.</param>
public sealed record ModeSpec(string Machine, long Duration, long Setup = 0);

/// <summary>An operation of a job: runs once, on one of its modes' machines, without interruption.</summary>
/// <param name="SetupKey">Operations with the same key in a row on a machine need one setup (the product and operation, usually).</param>
public sealed record OperationSpec(string Id, IReadOnlyList<ModeSpec> Modes, string? SetupKey = null);

/// <summary>A job (a work order): operations in precedence order, each after the one before it ends.</summary>
/// <param name="Release">Earliest start of its first operation (release, material available).</param>
/// <param name="Due">When its last operation should have ended; none: no tardiness.</param>
/// <param name="Weight">Tardiness weight (priority; a rush order weighs more).</param>
public sealed record JobSpec(string Id, IReadOnlyList<OperationSpec> Operations, long Release = 0, long? Due = null, int Weight = 1);

/// <summary>An operation placed on a machine: <c>[Start, End)</c>, the first <paramref name="Setup"/> of it the setup.</summary>
public sealed record PlannedOperation(string Job, string Operation, string Machine, long Start, long End, long Setup);

/// <summary>What to schedule.</summary>
/// <param name="Now">Nothing new starts before it.</param>
/// <param name="Freeze">Operations of <paramref name="Previous"/> started before <c>Now + Freeze</c> keep their machine and start (if the machine can still run them).</param>
/// <param name="Previous">The plan in force: kept where frozen, otherwise a hint for stability, and what the changes are counted against.</param>
public sealed record SchedulingProblem(
    IReadOnlyList<JobSpec> Jobs,
    IReadOnlyList<MachineSpec> Machines,
    long Now = 0,
    long Freeze = 0,
    IReadOnlyList<PlannedOperation>? Previous = null);

/// <summary>How a schedule was found.</summary>
public enum ScheduleStatus
{
    /// <summary>Proved optimal for every objective level.</summary>
    Optimal,

    /// <summary>Feasible; the time limit ended the search.</summary>
    Feasible,

    /// <summary>Built by a dispatch rule (no search).</summary>
    Heuristic,

    /// <summary>Nothing could be scheduled (see <see cref="Schedule.Unscheduled"/>).</summary>
    Infeasible,
}

/// <summary>A job's projected completion against its due date.</summary>
/// <param name="Lateness">Completion − due (negative: early); 0 without a due date.</param>
/// <param name="Tardiness">max(0, lateness).</param>
public sealed record JobOutcome(string Job, long Completion, long? Due, long Lateness, long Tardiness);

/// <summary>An operation whose machine or start differs from the previous plan.</summary>
public sealed record OperationMove(string Job, string Operation, string? FromMachine, long? FromStart, string ToMachine, long ToStart);

/// <summary>A job whose projected completion differs from the previous plan.</summary>
public sealed record CompletionChange(string Job, long? From, long To);

/// <summary>What a schedule changes against the previous one.</summary>
/// <param name="Stability">Share of the operations of both plans that kept their machine and start (1: nothing moved).</param>
public sealed record ScheduleChanges(IReadOnlyList<OperationMove> Moved, IReadOnlyList<CompletionChange> Completions, double Stability);

/// <summary>A schedule and what it promises.</summary>
/// <param name="Dispatch">Per machine, its operations in start order: what runs next.</param>
/// <param name="Unscheduled">Jobs left out, each with why (an operation no machine can take).</param>
/// <param name="Notes">What the solver had to relax (e.g. the freeze dropped as it could not hold).</param>
public sealed record Schedule(
    ScheduleStatus Status,
    string Method,
    IReadOnlyList<PlannedOperation> Operations,
    IReadOnlyList<JobOutcome> Jobs,
    IReadOnlyDictionary<string, IReadOnlyList<PlannedOperation>> Dispatch,
    long Makespan,
    long WeightedTardiness,
    int Setups,
    TimeSpan Elapsed,
    ScheduleChanges Changes,
    IReadOnlyDictionary<string, string> Unscheduled,
    IReadOnlyList<string> Notes);

/// <summary>Settings of one solve.</summary>
/// <param name="TimeLimit">Wall time for the whole solve, all objective levels together.</param>
/// <param name="Workers">CP-SAT search workers (threads).</param>
/// <param name="Trace">Told each stage's outcome (for logs and the benchmark).</param>
/// <param name="MaxSequencingArcs">
/// Setups are sequenced by the solver (a circuit per machine) only while the circuits have at most
/// this many arcs (about the square of the operations per machine); above it setups are planned as
/// always paid and saved afterwards wherever a run of one key happens to come together.
/// </param>
/// <param name="MaxModes">
/// Most machine choices (operation × eligible machine) the search gets. Above it the operations
/// with the most eligible machines are searched on fewer of them: the one the dispatch rule chose
/// and the least loaded others (<see cref="ModeBudget"/>).
/// </param>
public sealed record SolverSettings(TimeSpan TimeLimit, int Workers = 2, int Seed = 1, Action<string>? Trace = null, int MaxSequencingArcs = 5000, int MaxModes = 2000)
{
    public static SolverSettings Default { get; } = new(TimeSpan.FromSeconds(10));
}
