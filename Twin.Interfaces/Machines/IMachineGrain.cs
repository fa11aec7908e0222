using System.Collections.Immutable;

namespace Twin.Machines;

/// <summary>
/// The twin of one machine, keyed <c>"{factory}/{machine}"</c>.
/// </summary>
[Alias("twin.IMachineGrain")]
public interface IMachineGrain : IGrainWithStringKey
{
    /// <summary>
    /// Applies a batch of the device's messages. Completes only once the state holding them is
    /// durable, so the caller may acknowledge them to the broker; a duplicate completes once the
    /// original is durable. Concurrent calls are group-committed.
    /// </summary>
    [Alias("Ingest")]
    Task<IngestResult> IngestAsync(ImmutableArray<MachineMessage> messages);

    /// <summary>
    /// Applies an inspection the MES sent (the same as one on the machine's <c>quality</c> topic, but
    /// identified by <paramref name="inspectionId"/> instead of the device's sequence): once per id.
    /// Completes once durable; false when the id was applied before.
    /// </summary>
    [Alias("RecordInspection")]
    Task<bool> RecordInspectionAsync(string inspectionId, Twin.Quality.QualityMessage inspection);

    /// <summary>Sets the machine's master data: name, sensor limits and detector settings.</summary>
    [Alias("Define")]
    Task<MachineSnapshot> DefineAsync(MachineDefinition definition);

    /// <summary>The full state of the twin.</summary>
    [Alias("GetSnapshot")]
    Task<MachineSnapshot> GetSnapshotAsync();

    /// <summary>A one-line view of the twin.</summary>
    [Alias("GetSummary")]
    Task<MachineSummary> GetSummaryAsync();

    /// <summary>OEE over the current shift and the last hour, 8 hours and 24 hours (event time).</summary>
    [Alias("GetOee")]
    Task<MachineOee> GetOeeAsync();

    /// <summary>Whether the twin holds any state yet.</summary>
    [Alias("Exists")]
    Task<bool> ExistsAsync();

    /// <summary>
    /// Asks the twin to publish its changes to its live stream (<see cref="Twin.Live.TwinTopic"/>) for
    /// the next <see cref="Twin.Live.TwinTopic.LiveLease"/>; a subscriber renews it while it watches.
    /// A twin nobody watches publishes nothing, so the feed costs nothing on the ingest path.
    /// </summary>
    [Alias("KeepLive")]
    Task KeepLiveAsync();

    /// <summary>
    /// Records that the machine belongs to <paramref name="line"/> (called by the line twin).
    /// A machine belongs to one line: throws <see cref="TwinRuleException"/> when it is in another.
    /// </summary>
    [Alias("JoinLine")]
    Task JoinLineAsync(string line);

    /// <summary>Clears the machine's line if it is <paramref name="line"/>.</summary>
    [Alias("LeaveLine")]
    Task LeaveLineAsync(string line);

    /// <summary>
    /// For an action's effect report: starts counting parts with event time in [at, at + window)
    /// under <paramref name="actionId"/> (idempotent; a machine watches at most a few actions at a
    /// time) and answers the OEE buckets of both windows. <paramref name="release"/> ends the watch.
    /// </summary>
    [Alias("ProbeEffect")]
    Task<Twin.Effects.EffectProbe> ProbeEffectAsync(string actionId, DateTimeOffset at, TimeSpan window, bool release);
}
