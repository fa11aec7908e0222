using System.Collections.Immutable;
using Twin.Machines;

namespace Twin.Quality;

/// <summary>The specification of a characteristic: its limits and nominal, in the unit it is measured in.</summary>
/// <param name="Lsl">Lower specification limit; null when the characteristic has none.</param>
/// <param name="Usl">Upper specification limit; null when the characteristic has none.</param>
[GenerateSerializer, Immutable, Alias("twin.SpecLimits")]
public sealed record SpecLimits(
    [property: Id(0)] double? Lsl,
    [property: Id(1)] double? Usl,
    [property: Id(2)] double? Nominal = null,
    [property: Id(3)] string? Unit = null)
{
    /// <summary>True when <paramref name="value"/> is outside a limit that is given.</summary>
    public bool IsOutside(double value) => (Lsl is { } low && value < low) || (Usl is { } high && value > high);
}

/// <summary>One measured characteristic of an inspected part.</summary>
/// <param name="Characteristic">Its name: letters, digits, '_' and '-' (no '.').</param>
[GenerateSerializer, Immutable, Alias("twin.Measurement")]
public sealed record Measurement(
    [property: Id(0)] string Characteristic,
    [property: Id(1)] double Value,
    [property: Id(2)] SpecLimits Spec);

/// <summary>
/// The inspection of one part or batch on the machine (the <c>quality</c> topic, or an MES
/// inspection event): its measurements against their specification, and a defect code when it is
/// scrap. The part fails when it carries a defect code or a measurement is outside its limits.
/// </summary>
/// <param name="Start">When the part's processing on the machine began; when null the twin takes the previous inspection's time on the machine.</param>
/// <param name="Reinspection">An inspection after rework: it does not count for first-pass yield.</param>
[GenerateSerializer, Immutable, Alias("twin.QualityMessage")]
public sealed record QualityMessage(
    long Seq,
    DateTimeOffset Timestamp,
    [property: Id(0)] ImmutableArray<Measurement> Measurements,
    [property: Id(1)] string? Part = null,
    [property: Id(2)] string? Batch = null,
    [property: Id(3)] string? WorkOrder = null,
    [property: Id(4)] string? Defect = null,
    [property: Id(5)] bool Reinspection = false,
    [property: Id(6)] DateTimeOffset? Start = null) : MachineMessage(Seq, Timestamp);

/// <summary>A measurement as the inspection record keeps it, with whether it was outside its limits.</summary>
[GenerateSerializer, Immutable, Alias("twin.MeasuredValue")]
public sealed record MeasuredValue(
    [property: Id(0)] string Characteristic,
    [property: Id(1)] double Value,
    [property: Id(2)] bool OutOfSpec);

/// <summary>
/// One inspected part as its machine recorded it: when it was made (its processing window on the
/// machine), what it was measured at, and whether it passed.
/// </summary>
/// <param name="Id">Stable id (the machine message's source and sequence, or the MES event id).</param>
/// <param name="Start">Start of the part's processing window on the machine (event time).</param>
/// <param name="Time">The inspection's event time: the end of the window.</param>
/// <param name="Defect">The defect code: the one given, or <c>out-of-spec.{characteristic}</c> for the first characteristic outside its limits; null when the part passed.</param>
/// <param name="Shift">The machine's shift at <paramref name="Time"/> by its calendar; null without a calendar.</param>
[GenerateSerializer, Immutable, Alias("twin.InspectionRecord")]
public sealed record InspectionRecord(
    [property: Id(0)] string Id,
    [property: Id(1)] string Machine,
    [property: Id(2)] DateTimeOffset Start,
    [property: Id(3)] DateTimeOffset Time,
    [property: Id(4)] string? Part,
    [property: Id(5)] string? Batch,
    [property: Id(6)] string? WorkOrder,
    [property: Id(7)] string? Defect,
    [property: Id(8)] bool Reinspection,
    [property: Id(9)] ImmutableArray<MeasuredValue> Measurements,
    [property: Id(10)] string? Shift)
{
    /// <summary>True when the part failed (a defect code, or a measurement out of specification).</summary>
    public bool Failed => Defect is not null;

    /// <summary>The defect code of a part outside the limits of <paramref name="characteristic"/> with no code of its own.</summary>
    public static string OutOfSpecCode(string characteristic) => "out-of-spec." + characteristic;
}

/// <summary>One measurement on its way to its characteristic's control chart.</summary>
/// <param name="Id">Stable id: a repeat changes nothing.</param>
[GenerateSerializer, Immutable, Alias("twin.SpcSample")]
public sealed record SpcSample(
    [property: Id(0)] string Id,
    [property: Id(1)] DateTimeOffset Time,
    [property: Id(2)] double Value,
    [property: Id(3)] SpecLimits Spec,
    [property: Id(4)] string? Part);

/// <summary>
/// Control limits learned from a phase-I baseline, frozen until the characteristic is
/// re-baselined. For subgroups (n 2–10) an X̄–R chart: limits X̄̄ ± A2·R̄, range limits D3·R̄ and
/// D4·R̄. For n = 1 an individuals chart: X̄ ± 2.66·MR̄, moving-range limit 3.267·MR̄.
/// </summary>
/// <param name="Center">Centre line of the plotted statistic (X̄̄, or the mean of individuals).</param>
/// <param name="Sigma">One standard deviation of the plotted statistic (the zone width of the Nelson rules): (UCL − CL) / 3.</param>
/// <param name="RangeCenter">R̄, or MR̄ for individuals.</param>
/// <param name="SigmaWithin">Within-subgroup standard deviation: R̄/d2, or MR̄/1.128 for individuals.</param>
/// <param name="Subgroups">Baseline subgroups (points) the limits were learned from, after exclusions.</param>
/// <param name="Excluded">Baseline points left out because they were beyond the trial limits (not in control).</param>
/// <param name="UntilPoint">The number of the last baseline point: points after it are monitored.</param>
[GenerateSerializer, Immutable, Alias("twin.SpcLimits")]
public sealed record SpcLimits(
    [property: Id(0)] int SubgroupSize,
    [property: Id(1)] double Center,
    [property: Id(2)] double Upper,
    [property: Id(3)] double Lower,
    [property: Id(4)] double Sigma,
    [property: Id(5)] double RangeCenter,
    [property: Id(6)] double RangeUpper,
    [property: Id(7)] double RangeLower,
    [property: Id(8)] double SigmaWithin,
    [property: Id(9)] int Subgroups,
    [property: Id(10)] int Excluded,
    [property: Id(11)] long UntilPoint,
    [property: Id(12)] DateTimeOffset LearnedAt);

/// <summary>One point of a control chart: a subgroup's mean and range, or an individual value and its moving range.</summary>
/// <param name="Range">R of the subgroup, or the moving range to the previous individual (null for the first).</param>
/// <param name="Rules">The Nelson rules that fired at this point: bit r−1 for rule r.</param>
/// <param name="Baseline">The point belongs to the phase-I baseline the limits were learned from.</param>
[GenerateSerializer, Immutable, Alias("twin.SpcPoint")]
public sealed record SpcPoint(
    [property: Id(0)] long Number,
    [property: Id(1)] DateTimeOffset Time,
    [property: Id(2)] double Value,
    [property: Id(3)] double? Range,
    [property: Id(4)] int Size,
    [property: Id(5)] int Rules,
    [property: Id(6)] bool Baseline,
    [property: Id(7)] string? Part);

/// <summary>Process capability against the specification, from the within-subgroup sigma.</summary>
/// <param name="Mean">Mean of the plotted statistic over the points used.</param>
/// <param name="SigmaWithin">R̄/d2 (or MR̄/1.128) over the points used.</param>
/// <param name="Points">How many recent points the figures come from.</param>
/// <param name="Cp">(USL − LSL) / 6σ; null unless both limits are given.</param>
/// <param name="Cpk">min(USL − μ, μ − LSL) / 3σ over the limits given.</param>
[GenerateSerializer, Immutable, Alias("twin.Capability")]
public sealed record Capability(
    [property: Id(0)] double Mean,
    [property: Id(1)] double SigmaWithin,
    [property: Id(2)] int Points,
    [property: Id(3)] double? Cp,
    [property: Id(4)] double? Cpk);

/// <summary>A characteristic's control chart: settings, limits, recent points, capability.</summary>
/// <param name="Phase"><c>learning</c> while the phase-I baseline is collected, then <c>monitoring</c>.</param>
/// <param name="BaselinePoints">Points collected so far towards the baseline (while learning).</param>
/// <param name="FiringRules">The rules that fired at the latest point, e.g. <c>Nelson2</c>.</param>
[GenerateSerializer, Immutable, Alias("twin.CharacteristicSnapshot")]
public sealed record CharacteristicSnapshot(
    [property: Id(0)] string Factory,
    [property: Id(1)] string Machine,
    [property: Id(2)] string Characteristic,
    [property: Id(3)] SpecLimits? Spec,
    [property: Id(4)] int SubgroupSize,
    [property: Id(5)] int BaselineSubgroups,
    [property: Id(6)] string Phase,
    [property: Id(7)] int BaselinePoints,
    [property: Id(8)] SpcLimits? Limits,
    [property: Id(9)] Capability? Capability,
    [property: Id(10)] ImmutableArray<SpcPoint> Points,
    [property: Id(11)] long Readings,
    [property: Id(12)] long OutOfSpec,
    [property: Id(13)] ImmutableArray<FaultKind> FiringRules,
    [property: Id(14)] long Version,
    [property: Id(15)] DateTimeOffset? RebaselinedAt = null,
    [property: Id(16)] string? RebaselinedBy = null,
    [property: Id(17)] DateTimeOffset? BaselineFrom = null,
    [property: Id(18)] long BeforeRebaseline = 0);

/// <summary>How a characteristic's control limits are learned: subgroup size and baseline length.</summary>
/// <param name="SubgroupSize">Consecutive measurements per subgroup, 1 (individuals) to 10.</param>
/// <param name="BaselineSubgroups">Subgroups (or individuals) of the phase-I baseline, 5 to 1000.</param>
[GenerateSerializer, Immutable, Alias("twin.SpcSettings")]
public sealed record SpcSettings(
    [property: Id(0)] int SubgroupSize,
    [property: Id(1)] int BaselineSubgroups);

/// <summary>
/// The key of one characteristic's control chart: the machine that reports it and the
/// characteristic's name. Grain key <c>{factory}/{machine}/{characteristic}</c>, directory id
/// <c>{machine}/{characteristic}</c>. Built and read only here.
/// </summary>
public readonly record struct CharacteristicKey(string Factory, string Machine, string Characteristic)
{
    /// <summary>The longest characteristic name.</summary>
    public const int MaxNameLength = 64;

    /// <summary>The id within the factory's directory: <c>{machine}/{characteristic}</c>.</summary>
    public string Id => $"{Machine}/{Characteristic}";

    /// <summary>The grain key: <c>{factory}/{machine}/{characteristic}</c>.</summary>
    public string GrainKey => $"{TwinKey.Compose(Factory, Machine)}/{Characteristic}";

    /// <summary>True when <paramref name="name"/> is 1–64 letters, digits, '_' or '-'.</summary>
    public static bool IsValidName([System.Diagnostics.CodeAnalysis.NotNullWhen(true)] string? name, out string error)
    {
        if (string.IsNullOrEmpty(name) || name.Length > MaxNameLength)
        {
            error = $"a characteristic name must be 1 to {MaxNameLength} characters";
            return false;
        }

        foreach (var c in name)
        {
            if (!(char.IsAsciiLetterOrDigit(c) || c is '_' or '-'))
            {
                error = $"'{(name.Length <= 40 ? name : name[..40] + "…")}' contains '{c}'; characteristic names use letters, digits, '_' and '-'";
                return false;
            }
        }

        error = "";
        return true;
    }

    /// <summary>Reads a directory id (<c>{machine}/{characteristic}</c>) of <paramref name="factory"/>.</summary>
    public static bool TryParseId(string factory, string? id, out CharacteristicKey key)
    {
        key = default;
        var slash = id?.IndexOf('/', StringComparison.Ordinal) ?? -1;
        if (slash <= 0 || !TwinKey.IsValidId(factory, out _) || !TwinKey.IsValidId(id![..slash], out _) || !IsValidName(id[(slash + 1)..], out _))
        {
            return false;
        }

        key = new CharacteristicKey(factory, id[..slash], id[(slash + 1)..]);
        return true;
    }

    /// <summary>Reads a grain key (<c>{factory}/{machine}/{characteristic}</c>).</summary>
    /// <exception cref="ArgumentException">It is not one.</exception>
    public static CharacteristicKey Parse(string grainKey)
    {
        var (factory, id) = TwinKey.Split(grainKey);
        return TryParseId(factory, id, out var key) ? key : throw new ArgumentException($"'{grainKey}' is not a characteristic key of the form factory/machine/characteristic.", nameof(grainKey));
    }
}

/// <summary>The Nelson (Western Electric) rules as fault kinds of quality tickets.</summary>
public static class SpcRules
{
    /// <summary>The number of rules (1–8).</summary>
    public const int Count = 8;

    /// <summary>The fault kind of rule <paramref name="rule"/> (1–8).</summary>
    public static FaultKind Kind(int rule) => rule is >= 1 and <= Count
        ? FaultKind.Nelson1 + (rule - 1)
        : throw new ArgumentOutOfRangeException(nameof(rule), rule, "a Nelson rule is 1 to 8");

    /// <summary>True for the fault kinds of SPC rules (quality tickets), false for machine faults.</summary>
    public static bool IsSpc(FaultKind kind) => kind is >= FaultKind.Nelson1 and <= FaultKind.Nelson8;

    /// <summary>The rule number (1–8) of an SPC fault kind.</summary>
    public static int Rule(FaultKind kind) => IsSpc(kind) ? kind - FaultKind.Nelson1 + 1 : throw new ArgumentOutOfRangeException(nameof(kind), kind, "not an SPC rule");

    /// <summary>The fault kinds of the rules set in <paramref name="mask"/> (bit r−1 for rule r).</summary>
    public static ImmutableArray<FaultKind> Kinds(int mask) =>
        [.. Enumerable.Range(1, Count).Where(r => (mask & (1 << (r - 1))) != 0).Select(Kind)];

    /// <summary>What rule <paramref name="rule"/> tests, in words.</summary>
    public static string Describe(int rule) => rule switch
    {
        1 => "one point beyond 3 sigma of the centre line",
        2 => "nine points in a row on one side of the centre line",
        3 => "six points in a row steadily increasing or decreasing",
        4 => "fourteen points in a row alternating up and down",
        5 => "two of three points in a row beyond 2 sigma on the same side",
        6 => "four of five points in a row beyond 1 sigma on the same side",
        7 => "fifteen points in a row within 1 sigma of the centre line",
        8 => "eight points in a row beyond 1 sigma, on both sides",
        _ => "unknown rule",
    };
}

/// <summary>
/// The control chart of one characteristic on one machine, keyed by <see cref="CharacteristicKey.GrainKey"/>.
/// It learns its limits from a phase-I baseline, then watches every new point with the Nelson
/// rules; a rule that starts firing is reported to the quality ticket desk of that characteristic
/// and rule (at most one open ticket each).
/// </summary>
[Alias("twin.ICharacteristicGrain")]
public interface ICharacteristicGrain : IGrainWithStringKey
{
    /// <summary>Adds a measurement (idempotent by <see cref="SpcSample.Id"/>); completes once it is durable.</summary>
    [Alias("Record")]
    Task RecordAsync(SpcSample sample);

    /// <summary>The chart now.</summary>
    /// <exception cref="TwinRuleException">Code <c>characteristic.not-found</c> when nothing was measured yet.</exception>
    [Alias("Get")]
    Task<CharacteristicSnapshot> GetAsync();

    /// <summary>
    /// Forgets the limits and learns new ones from the next points (phase I again), with new
    /// settings when given; the points so far stay on the chart.
    /// </summary>
    /// <remarks>
    /// Measurements made before <paramref name="from"/> (event time; default: the cluster's clock
    /// at the call) do not enter the new baseline, even when they arrive after it: one still on its
    /// way from the inspection log belongs to the old process.
    /// </remarks>
    [Alias("Rebaseline")]
    Task<CharacteristicSnapshot> RebaselineAsync(SpcSettings? settings, string? by, DateTimeOffset? from = null);
}

/// <summary>
/// The inspected parts of one machine, keyed <c>"{factory}/{machine}"</c>: the latest records
/// (for root-cause analysis) and the machine's quality figures, which it reports to the factory KPIs.
/// </summary>
[Alias("twin.IInspectionLogGrain")]
public interface IInspectionLogGrain : IGrainWithStringKey
{
    /// <summary>Keeps an inspection (idempotent by <see cref="InspectionRecord.Id"/>); completes once it is durable.</summary>
    [Alias("Record")]
    Task RecordAsync(InspectionRecord record);

    /// <summary>The kept records with <paramref name="from"/> ≤ time &lt; <paramref name="to"/>, oldest first.</summary>
    [Alias("List")]
    Task<ImmutableArray<InspectionRecord>> ListAsync(DateTimeOffset from, DateTimeOffset to);
}

/// <summary>
/// What a root-cause ranking compares: the parts of one characteristic on its machine (bad:
/// outside its specification) or of one defect code (bad: that code; good: parts that passed),
/// first inspections only, with <see cref="From"/> ≤ inspection time &lt; <see cref="To"/>.
/// </summary>
/// <param name="Machine">The characteristic's machine; for a defect code, only this machine's parts (all machines when null).</param>
[GenerateSerializer, Immutable, Alias("twin.RootCauseQuery")]
public sealed record RootCauseQuery(
    [property: Id(0)] string Factory,
    [property: Id(1)] string? Machine,
    [property: Id(2)] string? Characteristic,
    [property: Id(3)] string? Defect,
    [property: Id(4)] DateTimeOffset From,
    [property: Id(5)] DateTimeOffset To);

/// <summary>
/// How strongly one factor separates bad from good parts. For a process parameter (a sensor's
/// mean or maximum over each part's window on its machine) the values of bad and good parts are
/// compared; for a category (a machine, a work order, a material) whether a part had it.
/// </summary>
/// <param name="Kind"><c>parameter</c>, <c>machine</c>, <c>workOrder</c> or <c>material</c>.</param>
/// <param name="Bad">Bad parts with a value for this factor.</param>
/// <param name="Good">Good parts with a value for this factor.</param>
/// <param name="Auc">P(a bad part's value &gt; a good part's) + ½ P(equal): 0.5 is no separation, 1 or 0 complete.</param>
/// <param name="AucLow">Lower end of the 95 % interval of <paramref name="Auc"/> (DeLong standard error).</param>
/// <param name="EffectSize">Hedges' g: the bias-corrected standardised mean difference, bad − good (parameters only).</param>
/// <param name="PValue">Two-sided Mann–Whitney test (normal approximation with tie correction).</param>
/// <param name="AdjustedPValue">Holm's adjustment over every factor ranked in the same report.</param>
/// <param name="Threshold">The cut that best separates them (Youden's J), for parameters.</param>
/// <param name="Direction"><c>above</c> or <c>below</c> the threshold for parameters, <c>present</c> or <c>absent</c> for categories: where the bad parts are.</param>
/// <param name="BadRateBeyond">Share of bad parts beyond the threshold (or with the category, when present).</param>
/// <param name="BadRateWithin">Share of bad parts on the other side.</param>
[GenerateSerializer, Immutable, Alias("twin.RootCauseFactor")]
public sealed record RootCauseFactor(
    [property: Id(0)] string Kind,
    [property: Id(1)] string Name,
    [property: Id(2)] string? Machine,
    [property: Id(3)] string? Sensor,
    [property: Id(4)] string? Statistic,
    [property: Id(5)] int Bad,
    [property: Id(6)] int Good,
    [property: Id(7)] double? MeanBad,
    [property: Id(8)] double? MeanGood,
    [property: Id(9)] double Auc,
    [property: Id(10)] double AucLow,
    [property: Id(11)] double AucHigh,
    [property: Id(12)] double? EffectSize,
    [property: Id(13)] double? EffectSizeLow,
    [property: Id(14)] double? EffectSizeHigh,
    [property: Id(15)] double PValue,
    [property: Id(16)] double AdjustedPValue,
    [property: Id(17)] double? Threshold,
    [property: Id(18)] string Direction,
    [property: Id(19)] double? BadRateBeyond,
    [property: Id(20)] double? BadRateWithin,
    [property: Id(21)] string Summary);

/// <summary>A factor that was not ranked, and why (too few bad or good parts with data, no variation).</summary>
[GenerateSerializer, Immutable, Alias("twin.RootCauseSkipped")]
public sealed record RootCauseSkipped(
    [property: Id(0)] string Name,
    [property: Id(1)] int Bad,
    [property: Id(2)] int Good,
    [property: Id(3)] string Reason);

/// <summary>A ranking of factors by how strongly they separate bad from good parts, strongest first.</summary>
/// <param name="Status"><c>ranked</c>, or <c>not-enough-data</c> when there are fewer than <paramref name="MinPartsPerGroup"/> bad or good parts.</param>
[GenerateSerializer, Immutable, Alias("twin.RootCauseReport")]
public sealed record RootCauseReport(
    [property: Id(0)] string Factory,
    [property: Id(1)] string Target,
    [property: Id(2)] DateTimeOffset From,
    [property: Id(3)] DateTimeOffset To,
    [property: Id(4)] int BadParts,
    [property: Id(5)] int GoodParts,
    [property: Id(6)] int MinPartsPerGroup,
    [property: Id(7)] string Status,
    [property: Id(8)] string Detail,
    [property: Id(9)] ImmutableArray<RootCauseFactor> Factors,
    [property: Id(10)] ImmutableArray<RootCauseSkipped> Skipped);

/// <summary>Ranks process parameters and materials by how they separate bad from good parts (any silo answers; it reads the history and the inspection logs).</summary>
[Alias("twin.IRootCauseGrain")]
public interface IRootCauseGrain : IGrainWithIntegerKey
{
    [Alias("Rank")]
    Task<RootCauseReport> RankAsync(RootCauseQuery query);
}
