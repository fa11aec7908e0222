using Microsoft.AspNetCore.Http.HttpResults;
using Twin.Factories;
using Twin.Machines;
using Twin.Maintenance;
using Twin.Gateway.Security;

namespace Twin.Gateway.Api;

/// <summary>Who takes a ticket step, and a note.</summary>
public sealed record TicketActionRequest(string? By, string? Note);

internal static class TicketApi
{
    public static RouteGroupBuilder MapTicketApi(this IEndpointRouteBuilder app)
    {
        var group = app.MapFactoryGroup("/tickets").WithTags("Maintenance");
        group.MapGet("/", ListAsync).WithName("ListTickets").WithSummary("Maintenance tickets, newest first; filter with ?status=open&machine=press-1.");
        foreach (var (action, status) in new[] { ("acknowledge", TicketStatus.Acknowledged), ("start", TicketStatus.InProgress), ("resolve", TicketStatus.Resolved), ("close", TicketStatus.Closed) })
        {
            group.MapPost($"/{{ticket}}/{action}", (string factory, string ticket, TicketActionRequest? request, IGrainFactory grains) => MoveAsync(factory, ticket, status, request, grains))
                .RequireAuthorization(TwinPolicies.Operator)
                .WithName($"Ticket{char.ToUpperInvariant(action[0])}{action[1..]}")
                .WithSummary($"Moves a ticket to {status}.");
        }

        return group;
    }

    private static async Task<Results<Ok<TwinList<Ticket>>, ValidationProblem>> ListAsync(
        string factory, string? status, string? machine, int? offset, int? limit, IGrainFactory grains)
    {
        var paging = ApiSupport.Paging(offset, limit);
        var errors = ApiSupport.ValidateIds(("factory", factory)) ?? paging.Errors ?? [];
        var openOnly = string.Equals(status, "open-any", StringComparison.OrdinalIgnoreCase);
        var wanted = openOnly ? null : ApiSupport.Filter<TicketStatus>(status, "status", errors);
        if (errors.Count > 0)
        {
            return TypedResults.ValidationProblem(errors);
        }

        var desks = await grains.GetGrain<IFactoryGrain>(factory).ListAsync(TwinKind.TicketDesk);
        var lists = await Task.WhenAll(desks
            .Where(d => machine is null || d.StartsWith(machine + ".", StringComparison.Ordinal))
            .Select(d => grains.GetGrain<IMaintenanceTicketGrain>(TicketDeskKey.OfId(factory, d).GrainKey).ListAsync()));
        var tickets = lists.SelectMany(l => l)
            .Where(t => (wanted is null || t.Status == wanted) && (!openOnly || t.Status is TicketStatus.Open or TicketStatus.Acknowledged or TicketStatus.InProgress))
            .OrderByDescending(t => t.OpenedAt)
            .ToList();

        // The dashboard's effect column: one read of the factory's effect reports, not one per ticket.
        var effects = await grains.GetGrain<Twin.Effects.IActionEffectGrain>(factory).ForTicketsAsync();
        tickets = [.. tickets.Select(t => effects.TryGetValue(t.Id, out var effect) ? t with { Effect = effect } : t)];
        return TypedResults.Ok(new TwinList<Ticket>(factory, tickets.Count, paging.Offset, [.. tickets.Skip(paging.Offset).Take(paging.Limit)]));
    }

    private static async Task<Results<Ok<Ticket>, ValidationProblem>> MoveAsync(string factory, string ticket, TicketStatus target, TicketActionRequest? request, IGrainFactory grains)
    {
        var errors = ApiSupport.ValidateIds(("factory", factory)) ?? [];
        if (!TicketDeskKey.TryParseTicket(factory, ticket, out var desk, out var number))
        {
            errors["ticket"] = ["a ticket id: {machine}.{kind}.{number}, as listed"];
        }
        else if (request?.By is { Length: > 100 } || request?.Note is { Length: > 2000 })
        {
            errors["by"] = ["by: at most 100 characters; note: at most 2000"];
        }

        if (errors.Count > 0)
        {
            return TypedResults.ValidationProblem(errors);
        }

        return TypedResults.Ok(await grains.GetGrain<IMaintenanceTicketGrain>(desk.GrainKey).MoveAsync(number, target, request?.By, request?.Note));
    }
}
