using System.Diagnostics;
using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Mvc;
using Twin.Gateway.Security;

namespace Twin.Gateway.Api;

/// <summary>A page of a list.</summary>
public sealed record TwinList<T>(string Factory, int Total, int Offset, IReadOnlyList<T> Items);

internal static class ApiSupport
{
    public const int DefaultLimit = 100;
    public const int MaxLimit = 1000;

    /// <summary>
    /// A route group under <c>/api/factories/{factory}</c>: readable by viewers of that factory;
    /// endpoints that change something add the stronger policy they need.
    /// </summary>
    /// <remarks>
    /// Nothing is written to <see cref="TwinKey.UnroutedFactory"/>: it holds the dead letters of
    /// input whose factory could not be read, and stays readable.
    /// </remarks>
    public static RouteGroupBuilder MapFactoryGroup(this IEndpointRouteBuilder app, string path)
    {
        var group = app.MapGroup("/api/factories/{" + TwinPolicies.FactoryRouteValue + "}" + path).RequireAuthorization(TwinPolicies.Viewer);
        group.AddEndpointFilter(async (context, next) =>
        {
            var http = context.HttpContext;
            if (!(HttpMethods.IsGet(http.Request.Method) || HttpMethods.IsHead(http.Request.Method) || HttpMethods.IsOptions(http.Request.Method))
                && http.Request.RouteValues[TwinPolicies.FactoryRouteValue] is string factory
                && TwinKey.IsValidId(factory, out _)
                && !TwinKey.IsWritableFactory(factory, out var error))
            {
                return Results.ValidationProblem(new Dictionary<string, string[]> { ["factory"] = [error] });
            }

            return await next(context);
        });
        return group;
    }

    /// <summary>Checks path ids; null when valid, else the field errors for a 400.</summary>
    public static Dictionary<string, string[]>? ValidateIds(params (string Field, string? Value)[] ids)
    {
        Dictionary<string, string[]>? errors = null;
        foreach (var (field, value) in ids)
        {
            if (!TwinKey.IsValidId(value, out var error))
            {
                (errors ??= [])[field] = [error];
            }
        }

        return errors;
    }

    /// <summary>Parses an optional enum filter (case and dashes ignored); on a bad value adds a field error listing the choices.</summary>
    public static TEnum? Filter<TEnum>(string? value, string field, Dictionary<string, string[]> errors)
        where TEnum : struct, Enum
    {
        if (value is null)
        {
            return null;
        }

        if (Enum.TryParse<TEnum>(value.Replace("-", "", StringComparison.Ordinal), ignoreCase: true, out var parsed) && Enum.IsDefined(parsed))
        {
            return parsed;
        }

        var names = Enum.GetNames<TEnum>().Select(n => char.ToLowerInvariant(n[0]) + n[1..]);
        errors[field] = [$"one of {string.Join(", ", names)}"];
        return null;
    }

    public static (int Offset, int Limit, Dictionary<string, string[]>? Errors) Paging(int? offset, int? limit)
    {
        Dictionary<string, string[]>? errors = null;
        if (offset is < 0)
        {
            (errors ??= [])["offset"] = ["must be 0 or more"];
        }

        if (limit is < 1 or > MaxLimit)
        {
            (errors ??= [])["limit"] = [$"must be from 1 to {MaxLimit}"];
        }

        return (offset ?? 0, limit ?? DefaultLimit, errors);
    }
}

/// <summary>What a JSON body that does not bind did wrong, in the words of the other validation errors.</summary>
internal static class JsonFaults
{
    /// <summary>
    /// The field it failed on as validation errors name it (<c>steps[0].runPerPart</c>; <c>body</c>
    /// when it is the whole body) and a reason a client can act on: the serializer's own message
    /// names internal types.
    /// </summary>
    public static (string Field, string Reason) Describe(System.Text.Json.JsonException exception)
    {
        var field = exception.Path is { Length: > 1 } path ? path.TrimStart('$').TrimStart('.') : "";
        var reason = exception.Message.Contains("could not be converted", StringComparison.Ordinal)
            ? "the value has the wrong type for this field"
            : exception.Message.Split(" Path:", 2)[0].TrimEnd('.');
        return (field.Length == 0 ? "body" : field, reason);
    }
}

/// <summary>
/// Turns exceptions into ProblemDetails: rule violations from the twins become 404/409 with the
/// rule's message; anything else is a 500 that says nothing about the internals.
/// </summary>
internal sealed partial class TwinExceptionHandler(IProblemDetailsService problems, ILogger<TwinExceptionHandler> logger) : IExceptionHandler
{
    public async ValueTask<bool> TryHandleAsync(HttpContext httpContext, Exception exception, CancellationToken cancellationToken)
    {
        ProblemDetails problem;
        switch (exception)
        {
            case TwinRuleException rule:
                problem = new ProblemDetails
                {
                    Status = rule.IsNotFound ? StatusCodes.Status404NotFound : StatusCodes.Status409Conflict,
                    Title = rule.IsNotFound ? "Not found" : "Refused by a twin rule",
                    Detail = rule.Message,
                    Type = $"https://factory-twin.dev/problems/{rule.Code}",
                };
                problem.Extensions["code"] = rule.Code;
                break;
            case BadHttpRequestException { InnerException: System.Text.Json.JsonException json } bad:
                var (field, reason) = JsonFaults.Describe(json);
                problem = new ValidationProblemDetails(new Dictionary<string, string[]> { [field] = [$"payload.malformed: {reason}"] })
                {
                    Status = bad.StatusCode,
                    Title = "The request body is not valid JSON for this endpoint",
                };
                break;
            case BadHttpRequestException bad:
                problem = new ProblemDetails
                {
                    Status = bad.StatusCode,
                    Title = "Bad request",
                    Detail = bad.Message.StartsWith("Implicit body inferred", StringComparison.Ordinal) || bad.Message.StartsWith("Required parameter", StringComparison.Ordinal)
                        ? "The request needs a JSON body; the OpenAPI document (/openapi/v1.json) describes it."
                        : bad.Message,
                };
                break;
            case TimeoutException:
                LogUnhandled(exception, httpContext.Request.Path);
                problem = new ProblemDetails
                {
                    Status = StatusCodes.Status503ServiceUnavailable,
                    Title = "The cluster did not answer in time",
                    Detail = "The outcome is unknown; retry the request (twin commands are idempotent).",
                };
                break;
            default:
                LogUnhandled(exception, httpContext.Request.Path);
                problem = new ProblemDetails
                {
                    Status = StatusCodes.Status500InternalServerError,
                    Title = "Internal error",
                    Detail = "The request failed; the gateway log has the details.",
                };
                break;
        }

        problem.Extensions["traceId"] = Activity.Current?.Id ?? httpContext.TraceIdentifier;
        httpContext.Response.StatusCode = problem.Status!.Value;
        return await problems.TryWriteAsync(new ProblemDetailsContext { HttpContext = httpContext, ProblemDetails = problem, Exception = exception });
    }

    [LoggerMessage(EventId = TwinEvents.TwinExceptionHandlerUnhandled, Level = LogLevel.Error, Message = "Request {Path} failed")]
    private partial void LogUnhandled(Exception exception, PathString path);
}
