using System.Globalization;
using Microsoft.AspNetCore.Http.HttpResults;
using Twin.History;

namespace Twin.Gateway.Api;

/// <summary>
/// The history of one sensor, oldest first: without a step its raw readings (<see cref="Points"/>),
/// with a step one aggregate per bucket that holds readings (<see cref="Buckets"/>); the other list is null.
/// </summary>
/// <param name="Step">The bucket width; null for raw readings.</param>
/// <param name="Truncated">True when there was more than <c>limit</c>: narrow the range or use a (wider) step.</param>
public sealed record MachineHistory(
    string Factory,
    string Machine,
    string Sensor,
    DateTimeOffset From,
    DateTimeOffset To,
    TimeSpan? Step,
    bool Truncated,
    IReadOnlyList<HistoryRawPoint>? Points,
    IReadOnlyList<HistoryBucket>? Buckets);

internal static class HistoryApi
{
    public const int DefaultLimit = 10_000;
    public const int MaxLimit = 100_000;
    public static readonly TimeSpan DefaultRange = TimeSpan.FromHours(1);

    public static RouteGroupBuilder MapHistoryApi(this IEndpointRouteBuilder app)
    {
        var group = app.MapFactoryGroup("/machines/{machine}").WithTags("History");
        group.MapGet("/history", GetAsync).WithName("GetMachineHistory")
            .WithSummary("Stored readings of one sensor (time, value, quality, anomaly score), or with sensor=_machine the machine-level anomaly score per message; with step, their count, min, max and avg per bucket.");
        return group;
    }

    private static async Task<Results<Ok<MachineHistory>, ValidationProblem, ProblemHttpResult>> GetAsync(
        string factory, string machine, string? sensor, string? from, string? to, string? step, int? limit,
        IGrainFactory grains, TimeProvider time)
    {
        var errors = ApiSupport.ValidateIds(("factory", factory), ("machine", machine)) ?? [];
        if (string.IsNullOrEmpty(sensor))
        {
            errors["sensor"] = ["required: the sensor's name, e.g. ?sensor=temperature"];
        }
        else if (!IsSensorName(sensor))
        {
            errors["sensor"] = ["1 to 64 letters, digits, '_', '-' or '.'"];
        }

        var end = ParseTime(to, "to", errors) ?? time.GetUtcNow();
        var start = ParseTime(from, "from", errors) ?? end - DefaultRange;
        if (!errors.ContainsKey("from") && !errors.ContainsKey("to") && start > end)
        {
            errors["from"] = [$"must not be after to ({end:O})"];
        }

        TimeSpan? bucket = null;
        if (step is not null)
        {
            if (HistoryStep.TryParse(step, out var parsed, out var stepError))
            {
                bucket = parsed;
            }
            else
            {
                errors["step"] = [stepError];
            }
        }

        if (limit is < 1 or > MaxLimit)
        {
            errors["limit"] = [$"must be from 1 to {MaxLimit}"];
        }

        if (errors.Count > 0)
        {
            return TypedResults.ValidationProblem(errors);
        }

        // The silos own the history store: any of them answers.
        var history = grains.GetGrain<IHistoryGrain>(0);
        if (await history.GetUnavailableReasonAsync() is { } reason)
        {
            return TypedResults.Problem(title: "The history is not available here", detail: reason, statusCode: StatusCodes.Status503ServiceUnavailable);
        }

        var query = new HistoryQuery(factory, machine, sensor!, start, end, limit ?? DefaultLimit);
        if (bucket is { } width)
        {
            var buckets = await history.ReadAggregatesAsync(query, width);
            return TypedResults.Ok(new MachineHistory(factory, machine, sensor!, start, end, width, buckets.Truncated, null, buckets.Points));
        }

        var points = await history.ReadRawAsync(query);
        return TypedResults.Ok(new MachineHistory(factory, machine, sensor!, start, end, null, points.Truncated, points.Points, null));
    }

    private static DateTimeOffset? ParseTime(string? text, string field, Dictionary<string, string[]> errors)
    {
        if (text is null)
        {
            return null;
        }

        // An unencoded '+' of an offset arrives as a space.
        var candidate = text.Trim().Replace(' ', '+');
        if (DateTimeOffset.TryParse(candidate, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var parsed))
        {
            return parsed;
        }

        errors[field] = ["an ISO 8601 time, e.g. 2026-11-26T08:00:00Z"];
        return null;
    }

    private static bool IsSensorName(string name) =>
        name.Length <= 64 && name.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '-' or '.');
}

/// <summary>The <c>step</c> of a history query: <c>5m</c>, <c>1h</c>, <c>1d</c> or a time span (<c>00:05:00</c>), a whole number of minutes.</summary>
internal static class HistoryStep
{
    public static readonly TimeSpan Max = TimeSpan.FromDays(31);

    private const string Expected = "a whole number of minutes from 1 minute to 31 days: '1m', '5m', '1h', '1d' or a time span such as '00:05:00'";

    public static bool TryParse(string? text, out TimeSpan step, out string error)
    {
        step = default;
        var value = text?.Trim() ?? "";
        error = $"'{Shorten(value)}' is not {Expected}";
        if (!TryParseSpan(value, out var parsed) || parsed < TimeSpan.FromMinutes(1) || parsed > Max || parsed.Ticks % TimeSpan.TicksPerMinute != 0)
        {
            return false;
        }

        step = parsed;
        error = "";
        return true;
    }

    private static bool TryParseSpan(string value, out TimeSpan parsed)
    {
        parsed = default;
        if (value.Contains(':', StringComparison.Ordinal))
        {
            return TimeSpan.TryParseExact(value, "c", CultureInfo.InvariantCulture, out parsed);
        }

        // A number (at most six digits, so no unit can overflow) and a unit.
        var unit = value.TrimStart("0123456789".ToCharArray());
        var digits = value[..^unit.Length];
        if (digits.Length is 0 or > 6 || !long.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out var number))
        {
            return false;
        }

        switch (unit.ToLowerInvariant())
        {
            case "s":
                parsed = TimeSpan.FromSeconds(number);
                return true;
            case "m" or "min":
                parsed = TimeSpan.FromMinutes(number);
                return true;
            case "h":
                parsed = TimeSpan.FromHours(number);
                return true;
            case "d":
                parsed = TimeSpan.FromDays(number);
                return true;
            default:
                return false;
        }
    }

    private static string Shorten(string text) => text.Length <= 20 ? text : string.Concat(text.AsSpan(0, 20), "…");
}
