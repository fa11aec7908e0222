using System.Collections.Concurrent;
using System.Collections.Immutable;
using Twin.Lines;

namespace Twin.Ingestion;

/// <summary>
/// Learns line membership from where data comes from (a Unified Namespace topic with
/// <c>{line}</c>): the first time this gateway sees a machine under a line, the machine is added
/// to the line's master data. Once per machine and process; a machine that belongs to another
/// line (set over the API) stays there.
/// </summary>
public sealed partial class LineMembership(IGrainFactory grains, ILogger<LineMembership> logger)
{
    private readonly ConcurrentDictionary<string, byte> _known = new(StringComparer.Ordinal);

    /// <summary>Makes <paramref name="machine"/> a member of <paramref name="line"/> unless it is known to be; failures are logged and tried again next time.</summary>
    public async Task LearnAsync(string factory, string line, string machine)
    {
        var key = $"{factory}/{line}/{machine}";
        if (_known.ContainsKey(key))
        {
            return;
        }

        try
        {
            var grain = grains.GetGrain<ILineGrain>(TwinKey.Compose(factory, line));
            if (!await grain.ExistsAsync())
            {
                await grain.DefineAsync(new LineDefinition(null, [machine]));
                LogLearnt(factory, machine, line);
            }
            else if ((await grain.GetSnapshotAsync()) is var snapshot && !snapshot.Machines.Any(m => m.Id == machine))
            {
                // Joins at the end of the flow order; PUT the line to set the order.
                await grain.DefineAsync(new LineDefinition(snapshot.Name, [.. snapshot.Machines.Select(m => m.Id), machine]));
                LogLearnt(factory, machine, line);
            }

            _known.TryAdd(key, 0);
        }
        catch (TwinRuleException ex)
        {
            // The machine is another line's: master data set on purpose wins over the topic.
            _known.TryAdd(key, 0);
            LogRefused(factory, machine, line, ex.Message);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            LogFailed(ex, factory, machine, line);
        }
    }

    [LoggerMessage(EventId = TwinEvents.LineMembershipLearnt, Level = LogLevel.Information, Message = "Machine {Factory}/{Machine} joined line {Line}, as its topic says")]
    private partial void LogLearnt(string factory, string machine, string line);

    [LoggerMessage(EventId = TwinEvents.LineMembershipRefused, Level = LogLevel.Warning, Message = "Machine {Factory}/{Machine} is not added to line {Line} from its topic: {Reason}")]
    private partial void LogRefused(string factory, string machine, string line, string reason);

    [LoggerMessage(EventId = TwinEvents.LineMembershipFailed, Level = LogLevel.Warning, Message = "Adding machine {Factory}/{Machine} to line {Line} failed; tried again with its next message")]
    private partial void LogFailed(Exception exception, string factory, string machine, string line);
}
