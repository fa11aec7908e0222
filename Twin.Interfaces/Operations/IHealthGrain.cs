namespace Twin.Operations;

/// <summary>Answers readiness probes: a call that reaches a silo and reads grain storage.</summary>
[Alias("twin.IHealthGrain")]
public interface IHealthGrain : IGrainWithStringKey
{
    /// <summary>Reads this grain's record from storage; throws when storage does not answer.</summary>
    [Alias("Ping")]
    Task<DateTimeOffset> PingStorageAsync();
}
