using System.Collections.Immutable;
using Twin.DeadLetters;
using Twin.Grains.Infrastructure;

namespace Twin.Grains.DeadLetters;

[GenerateSerializer, Alias("twin.DeadLetterState")]
public sealed class DeadLetterState
{
    [Id(0)] public List<DeadLetter> Letters { get; set; } = [];
    [Id(1)] public Dictionary<string, long> Counts { get; set; } = new(StringComparer.Ordinal);
    [Id(2)] public long Total { get; set; }
}

/// <summary>Keeps the latest rejected messages of a factory. Reentrant with group commit: a flood of bad input costs few writes.</summary>
[Reentrant]
public sealed class DeadLetterGrain(
    [PersistentState("deadletters", TwinStorage.Name)] IPersistentState<DeadLetterState> state) : Grain, IDeadLetterGrain
{
    /// <summary>How many dead letters a factory keeps.</summary>
    public const int Capacity = 1000;

    private GroupCommit? _commit;

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        _commit = new GroupCommit(state, this);
        return Task.CompletedTask;
    }

    public override Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken) =>
        _commit?.CloseAsync(cancellationToken) ?? Task.CompletedTask;

    public Task RecordAsync(ImmutableArray<DeadLetter> letters)
    {
        foreach (var letter in letters)
        {
            // Bounded here too, whoever sent it: one device cannot grow the factory's state without limit.
            var kept = letter.Bounded();
            state.State.Letters.Add(kept);
            state.State.Total++;
            var code = kept.ReasonCode;
            state.State.Counts[code] = state.State.Counts.GetValueOrDefault(code) + 1;
        }

        if (state.State.Letters.Count > Capacity)
        {
            state.State.Letters.RemoveRange(0, state.State.Letters.Count - Capacity);
        }

        return _commit!.CommitAsync();
    }

    public Task<DeadLetterPage> ListAsync(string? reasonCode, int limit)
    {
        limit = Math.Clamp(limit, 1, Capacity);
        var items = Enumerable.Reverse(state.State.Letters)
            .Where(l => reasonCode is null || l.ReasonCode == reasonCode)
            .Take(limit)
            .ToImmutableArray();
        return Task.FromResult(new DeadLetterPage(state.State.Total, state.State.Counts.ToImmutableDictionary(StringComparer.Ordinal), items));
    }
}
