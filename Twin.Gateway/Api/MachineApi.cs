using Microsoft.AspNetCore.Http.HttpResults;
using Twin.Factories;
using Twin.Machines;
using Twin.Gateway.Security;
using Twin.Ingestion;

namespace Twin.Gateway.Api;

/// <summary>Limits and detector settings of one sensor, in its canonical unit.</summary>
public sealed record SensorLimitRequest(double? High, double? Low, double? Hysteresis, TimeSpan? MinDuration, double? MaxRatePerSecond, TimeSpan? FlatlineAfter, TimeSpan? ExpectedInterval);

/// <summary>Master data of a machine.</summary>
public sealed record MachineRequest(string? Name, Dictionary<string, SensorLimitRequest?>? Sensors, TimeSpan? IdealCycleTime = null, CalendarRequest? Calendar = null);

/// <summary>A production calendar: shifts and daily planned stops ("HH:mm"), in local time <c>utcOffset</c> ahead of UTC.</summary>
public sealed record CalendarRequest(List<ShiftRequest>? Shifts, List<StopRequest>? Stops, TimeSpan? UtcOffset);

public sealed record ShiftRequest(string? Name, TimeOnly? Start, TimeOnly? End);

public sealed record StopRequest(TimeOnly? Start, TimeOnly? End, string? Reason);

internal static class MachineApi
{
    public static RouteGroupBuilder MapMachineApi(this IEndpointRouteBuilder app)
    {
        var group = app.MapFactoryGroup("/machines").WithTags("Machines");
        group.MapGet("/", ListAsync).WithName("ListMachines").WithSummary("The factory's machines with a summary each.");
        group.MapGet("/{machine}", GetAsync).WithName("GetMachine").WithSummary("A machine twin's snapshot.");
        group.MapGet("/{machine}/oee", GetOeeAsync).WithName("GetMachineOee").WithSummary("OEE (ISO 22400) over the current shift and the last 1, 8 and 24 hours.");
        group.MapPut("/{machine}", PutAsync).RequireAuthorization(TwinPolicies.Integrator).WithName("PutMachine").WithSummary("Sets a machine's master data: name, sensor limits and detector settings.");
        return group;
    }

    private static async Task<Results<Ok<TwinList<MachineSummary>>, ValidationProblem>> ListAsync(
        string factory, int? offset, int? limit, IGrainFactory grains)
    {
        var paging = ApiSupport.Paging(offset, limit);
        var errors = ApiSupport.ValidateIds(("factory", factory)) ?? paging.Errors;
        if (errors is not null)
        {
            return TypedResults.ValidationProblem(errors);
        }

        var ids = await grains.GetGrain<IFactoryGrain>(factory).ListAsync(TwinKind.Machine);
        var page = ids.Skip(paging.Offset).Take(paging.Limit);
        var summaries = await Task.WhenAll(page.Select(id => grains.GetGrain<IMachineGrain>(TwinKey.Compose(factory, id)).GetSummaryAsync()));
        return TypedResults.Ok(new TwinList<MachineSummary>(factory, ids.Length, paging.Offset, summaries));
    }

    private static async Task<Results<Ok<MachineSnapshot>, ValidationProblem>> PutAsync(string factory, string machine, MachineRequest request, IGrainFactory grains, ProfileProvider profiles)
    {
        var errors = ApiSupport.ValidateIds(("factory", factory), ("machine", machine)) ?? [];
        if (request.Name is { Length: > 200 })
        {
            errors["name"] = ["at most 200 characters"];
        }

        // Limits are kept under the sensor's canonical name, which is what readings carry once the
        // factory's mapping profile has normalised them: an alias ("temp") means its sensor.
        var profile = errors.Count == 0 && request.Sensors is { Count: > 0 } ? await profiles.ForAsync(factory) : null;
        var sensors = System.Collections.Immutable.ImmutableDictionary.CreateBuilder<string, SensorLimit>(StringComparer.Ordinal);
        var named = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (given, limit) in request.Sensors ?? [])
        {
            var field = $"sensors.{given}";
            if (!TwinKey.IsValidId(given, out var nameError))
            {
                errors[field] = [nameError];
                continue;
            }

            var name = profile?.Canonical(given) ?? given;
            if (named.TryGetValue(name, out var first))
            {
                errors[field] = [$"'{given}' and '{first}' name the same sensor '{name}' in the factory's mapping profile: give its limits once"];
                continue;
            }

            named[name] = given;

            if (limit is null)
            {
                errors[field] = ["an object of limits (it may be empty)"];
                continue;
            }

            var problems = new List<string>();
            if (limit.High is { } high && limit.Low is { } low && low >= high)
            {
                problems.Add("low must be below high");
            }

            if (limit.Hysteresis is < 0 || limit.MinDuration < TimeSpan.Zero || limit.MaxRatePerSecond is <= 0
                || limit.FlatlineAfter <= TimeSpan.Zero || limit.ExpectedInterval <= TimeSpan.Zero)
            {
                problems.Add("hysteresis and minDuration cannot be negative; maxRatePerSecond, flatlineAfter and expectedInterval must be positive");
            }

            if (problems.Count > 0)
            {
                errors[field] = [.. problems];
                continue;
            }

            sensors[name] = new SensorLimit(limit.High, limit.Low, limit.Hysteresis ?? 0, limit.MinDuration ?? TimeSpan.Zero, limit.MaxRatePerSecond, limit.FlatlineAfter, limit.ExpectedInterval);
        }

        if (request.IdealCycleTime is { } ideal && (ideal <= TimeSpan.Zero || ideal > TimeSpan.FromDays(1)))
        {
            errors["idealCycleTime"] = ["a positive duration of at most a day, e.g. \"00:00:12\""];
        }

        var calendar = Calendar(request.Calendar, errors);
        if (errors.Count > 0)
        {
            return TypedResults.ValidationProblem(errors);
        }

        var grain = grains.GetGrain<IMachineGrain>(TwinKey.Compose(factory, machine));
        return TypedResults.Ok(await grain.DefineAsync(new MachineDefinition(request.Name, sensors.ToImmutable(), request.IdealCycleTime, calendar)));
    }

    private static ShiftCalendar? Calendar(CalendarRequest? request, Dictionary<string, string[]> errors)
    {
        if (request is null)
        {
            return null;
        }

        var shifts = new List<Shift>();
        foreach (var (shift, i) in (request.Shifts ?? []).Select((s, i) => (s, i)))
        {
            if (shift?.Start is not { } start || shift.End is not { } end || start == end)
            {
                errors[$"calendar.shifts[{i}]"] = ["start and end (\"HH:mm\") are required and must differ"];
                continue;
            }

            shifts.Add(new Shift(string.IsNullOrWhiteSpace(shift.Name) ? $"shift-{i + 1}" : shift.Name, start, end));
        }

        if (shifts.Count == 0)
        {
            errors["calendar.shifts"] = ["at least one shift; leave the calendar out for 24/7 production"];
        }

        var stops = new List<PlannedStop>();
        foreach (var (stop, i) in (request.Stops ?? []).Select((s, i) => (s, i)))
        {
            if (stop?.Start is not { } start || stop.End is not { } end || start == end)
            {
                errors[$"calendar.stops[{i}]"] = ["start and end (\"HH:mm\") are required and must differ"];
                continue;
            }

            stops.Add(new PlannedStop(start, end, stop.Reason));
        }

        var offset = request.UtcOffset ?? TimeSpan.Zero;
        if (offset < TimeSpan.FromHours(-14) || offset > TimeSpan.FromHours(14))
        {
            errors["calendar.utcOffset"] = ["from -14:00 to 14:00"];
        }

        return new ShiftCalendar([.. shifts], [.. stops], offset);
    }

    private static async Task<Results<Ok<MachineOee>, NotFound<Microsoft.AspNetCore.Mvc.ProblemDetails>, ValidationProblem>> GetOeeAsync(
        string factory, string machine, IGrainFactory grains)
    {
        if (ApiSupport.ValidateIds(("factory", factory), ("machine", machine)) is { } errors)
        {
            return TypedResults.ValidationProblem(errors);
        }

        var grain = grains.GetGrain<IMachineGrain>(TwinKey.Compose(factory, machine));
        if (!await grain.ExistsAsync())
        {
            return NotFound(factory, machine);
        }

        return TypedResults.Ok(await grain.GetOeeAsync());
    }

    private static async Task<Results<Ok<MachineSnapshot>, NotFound<Microsoft.AspNetCore.Mvc.ProblemDetails>, ValidationProblem>> GetAsync(
        string factory, string machine, IGrainFactory grains)
    {
        if (ApiSupport.ValidateIds(("factory", factory), ("machine", machine)) is { } errors)
        {
            return TypedResults.ValidationProblem(errors);
        }

        var grain = grains.GetGrain<IMachineGrain>(TwinKey.Compose(factory, machine));
        if (!await grain.ExistsAsync())
        {
            return NotFound(factory, machine);
        }

        return TypedResults.Ok(await grain.GetSnapshotAsync());
    }

    private static NotFound<Microsoft.AspNetCore.Mvc.ProblemDetails> NotFound(string factory, string machine) =>
        TypedResults.NotFound(new Microsoft.AspNetCore.Mvc.ProblemDetails
        {
            Status = StatusCodes.Status404NotFound,
            Title = "Not found",
            Detail = $"Machine '{machine}' of factory '{factory}' has sent nothing yet and has no master data.",
        });
}
