using Microsoft.Extensions.Options;

namespace Twin.Grains.Quality;

/// <summary>Settings of SPC, inspection logs and root-cause ranking (<c>Twin:Quality</c>).</summary>
public sealed class QualityOptions : ITwinOptions
{
    public const string Section = "Twin:Quality";

    static string ITwinOptions.Section => Section;

    /// <summary>Measurements per subgroup of a new characteristic's chart: 1 is an individuals chart, 2–10 an X̄–R chart.</summary>
    [SettingRange(1, 10)]
    public int SubgroupSize { get; set; } = 1;

    /// <summary>Subgroups (or individuals) of the phase-I baseline a new characteristic learns its limits from.</summary>
    [SettingRange(5, 1000)]
    public int BaselineSubgroups { get; set; } = 25;

    /// <summary>Points a characteristic's chart keeps.</summary>
    [SettingRange(20, 10_000)]
    public int PointsKept { get; set; } = 200;

    /// <summary>Inspected parts a machine's inspection log keeps for root-cause analysis.</summary>
    [SettingRange(10, 100_000)]
    public int PartsKept { get; set; } = 1000;

    /// <summary>Root-cause ranking: the fewest bad and the fewest good parts with data that a factor needs to be ranked.</summary>
    [SettingRange(3, 10_000)]
    public int MinPartsPerGroup { get; set; } = 10;
}

[OptionsValidator]
public sealed partial class QualityOptionsValidator : IValidateOptions<QualityOptions>;
