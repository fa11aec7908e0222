using Microsoft.AspNetCore.Http.HttpResults;
using Twin.Factories;
using Twin.Maintenance;

namespace Twin.Gateway.Api;

/// <summary>Maintenance figures of a machine from its tickets.</summary>
/// <param name="MttrMinutes">Mean time to repair: opened → resolved, over resolved tickets.</param>
/// <param name="MtbfHours">Mean time between failures: between consecutive ticket openings.</param>
public sealed record Reliability(string Factory, string Machine, int Tickets, int Resolved, double? MttrMinutes, double? MtbfHours);

internal static class ReliabilityApi
{
    public static RouteGroupBuilder MapReliabilityApi(this IEndpointRouteBuilder app)
    {
        var group = app.MapFactoryGroup("/machines/{machine}").WithTags("Maintenance");
        group.MapGet("/reliability", GetAsync).WithName("GetReliability").WithSummary("MTTR and MTBF of a machine, from its maintenance tickets.");
        return group;
    }

    public static Reliability Compute(string factory, string machine, IReadOnlyCollection<Ticket> tickets)
    {
        var repairs = tickets
            .Select(t => (t.OpenedAt, Resolved: t.History.FirstOrDefault(h => h.Status == TicketStatus.Resolved)?.At))
            .Where(t => t.Resolved is not null)
            .Select(t => (t.Resolved!.Value - t.OpenedAt).TotalMinutes)
            .ToList();
        var openings = tickets.Select(t => t.OpenedAt).Order().ToList();
        var gaps = openings.Zip(openings.Skip(1), (a, b) => (b - a).TotalHours).ToList();
        return new Reliability(factory, machine, tickets.Count, repairs.Count, repairs.Count > 0 ? repairs.Average() : null, gaps.Count > 0 ? gaps.Average() : null);
    }

    private static async Task<Results<Ok<Reliability>, ValidationProblem>> GetAsync(string factory, string machine, IGrainFactory grains)
    {
        if (ApiSupport.ValidateIds(("factory", factory), ("machine", machine)) is { } errors)
        {
            return TypedResults.ValidationProblem(errors);
        }

        var desks = await grains.GetGrain<IFactoryGrain>(factory).ListAsync(TwinKind.TicketDesk);
        var lists = await Task.WhenAll(desks.Where(d => d.StartsWith(machine + ".", StringComparison.Ordinal) && d.LastIndexOf('.') == machine.Length)
            .Select(d => grains.GetGrain<IMaintenanceTicketGrain>($"{factory}/{d}").ListAsync()));
        return TypedResults.Ok(Compute(factory, machine, [.. lists.SelectMany(l => l)]));
    }
}
