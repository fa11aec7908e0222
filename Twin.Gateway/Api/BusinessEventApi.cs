using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Http.Json;
using Microsoft.Extensions.Options;
using Twin.Bins;
using Twin.DeadLetters;
using Twin.Integration;
using Twin.WorkOrders;
using Twin.Gateway.Security;

namespace Twin.Gateway.Api;

/// <summary>A BOM line of an ERP work order.</summary>
public sealed record BomLineRequest(string? Sku, decimal? QuantityPerUnit, string? SourceBin);

/// <summary>An ERP work order event: <c>action</c> is create, release or cancel; <c>priority</c> (1–100) weighs its lateness in the schedule.</summary>
public sealed record WorkOrderEventRequest(
    string? EventId, string? Action, string? WorkOrder, string? Product, long? Quantity, DateTimeOffset? Due, string? Line, List<BomLineRequest>? Bom, string? Reason, int? Priority = null);

/// <summary>
/// A WMS stock movement: <c>kind</c> is receipt, issue, transfer, countAdjustment, reserve or unreserve;
/// <c>lot</c>, optional, the material lot a receipt brings or an issue or transfer takes.
/// </summary>
public sealed record MovementEventRequest(
    string? EventId, string? Bin, string? Kind, decimal? Quantity, string? TargetBin, DateTimeOffset? Ts, string? Reference, string? Lot = null);

/// <summary>An MES dispatch of a work order to a line.</summary>
public sealed record DispatchEventRequest(string? EventId, string? WorkOrder, string? Line);

/// <summary>One measured characteristic of an MES inspection.</summary>
public sealed record MeasurementRequest(string? Characteristic, double? Value, double? Lsl, double? Usl, double? Nominal, string? Unit);

/// <summary>An MES inspection result of a part or batch on a machine; <c>defect</c> makes it scrap.</summary>
public sealed record InspectionEventRequest(
    string? EventId, string? Machine, DateTimeOffset? Ts, string? Part, string? Batch, string? WorkOrder, List<MeasurementRequest>? Measurements, string? Defect, bool? Reinspection, DateTimeOffset? Start);

/// <summary>
/// Business-system events over HTTP. Each carries an <c>eventId</c>; the first result is kept and
/// a replay answers it again without applying twice. Invalid requests answer 400 listing every
/// field error and are kept as dead letters.
/// </summary>
internal static class BusinessEventApi
{
    private const int MaxEventIdLength = 128;

    public static RouteGroupBuilder MapBusinessEventApi(this IEndpointRouteBuilder app)
    {
        var limits = app.ServiceProvider.GetRequiredService<IOptions<HttpLimitsOptions>>().Value;
        var group = app.MapFactoryGroup("").WithTags("Business events")
            .RequireAuthorization(TwinPolicies.Integrator)
            .WithMetadata(new Microsoft.AspNetCore.Mvc.RequestSizeLimitAttribute(limits.MaxEventBodyBytes));
        group.MapPost("/erp/work-orders", PostWorkOrderAsync).WithName("PostErpWorkOrder").WithSummary("ERP: create, release or cancel a work order (idempotent by eventId).").Accepts<WorkOrderEventRequest>("application/json");
        group.MapPost("/wms/movements", PostMovementAsync).WithName("PostWmsMovement").WithSummary("WMS: a stock movement (idempotent by eventId, which is the movement id).").Accepts<MovementEventRequest>("application/json");
        group.MapPost("/mes/inspections", PostInspectionAsync).WithName("PostMesInspection").WithSummary("MES: an inspection result of a part on a machine: measured characteristics against their specification, a defect code for scrap (idempotent by eventId).").Accepts<InspectionEventRequest>("application/json");
        group.MapPost("/mes/dispatch", PostDispatchAsync).WithName("PostMesDispatch").WithSummary("MES: dispatch a work order to a line (idempotent by eventId).").Accepts<DispatchEventRequest>("application/json");
        return group;
    }

    private static async Task<IResult> PostWorkOrderAsync(string factory, HttpRequest http, IGrainFactory grains, IOptions<JsonOptions> json, TimeProvider time)
    {
        var (request, raw, problem) = await ReadAsync<WorkOrderEventRequest>(factory, http, grains, json.Value, time);
        if (problem is not null)
        {
            return problem;
        }

        var errors = Common(factory, request!.EventId);
        Require(errors, "workOrder", request.WorkOrder);
        WorkOrderAction? action = request.Action?.ToUpperInvariant() switch
        {
            "CREATE" => WorkOrderAction.Create,
            "RELEASE" => WorkOrderAction.Release,
            "CANCEL" => WorkOrderAction.Cancel,
            _ => null,
        };
        if (action is null)
        {
            errors["action"] = ["one of create, release, cancel"];
        }

        WorkOrderDefinition? definition = null;
        if (action == WorkOrderAction.Create)
        {
            if (string.IsNullOrWhiteSpace(request.Product) || request.Product.Length > 128)
            {
                errors["product"] = ["required for create, at most 128 characters"];
            }

            if (request.Quantity is null or <= 0 or > WorkOrderLimits.MaxQuantity)
            {
                errors["quantity"] = [$"required for create, a whole number from 1 to {WorkOrderLimits.MaxQuantity}"];
            }

            if (request.Line is not null && !TwinKey.IsValidId(request.Line, out var lineError))
            {
                errors["line"] = [lineError];
            }

            if (request.Priority is < 1 or > 100)
            {
                errors["priority"] = ["from 1 to 100"];
            }

            var bom = request.Bom ?? [];
            for (var i = 0; i < bom.Count; i++)
            {
                if (string.IsNullOrWhiteSpace(bom[i]?.Sku))
                {
                    errors[$"bom[{i}].sku"] = ["required"];
                }

                if (bom[i]?.QuantityPerUnit is null or <= 0)
                {
                    errors[$"bom[{i}].quantityPerUnit"] = ["required, positive"];
                }

                if (!TwinKey.IsValidId(bom[i]?.SourceBin, out var binError))
                {
                    errors[$"bom[{i}].sourceBin"] = [binError];
                }
            }

            if (errors.Count == 0)
            {
                definition = new WorkOrderDefinition(request.Product!, request.Quantity!.Value, request.Due, [.. bom.Select(b => new BomLine(b.Sku!, b.QuantityPerUnit!.Value, b.SourceBin!))], request.Line, request.Priority);
            }
        }

        if (request.Reason is { Length: > 500 })
        {
            errors["reason"] = ["at most 500 characters"];
        }

        if (errors.Count > 0)
        {
            return await RejectAsync(factory, http, grains, raw, errors, time);
        }

        var businessEvent = new WorkOrderEvent(request.EventId!, Fingerprint(request, json.Value), action!.Value, request.WorkOrder!, definition, request.Reason);
        return await ApplyAsync(grains, factory, "erp", businessEvent);
    }

    private static async Task<IResult> PostMovementAsync(string factory, HttpRequest http, IGrainFactory grains, IOptions<JsonOptions> json, TimeProvider time)
    {
        var (request, raw, problem) = await ReadAsync<MovementEventRequest>(factory, http, grains, json.Value, time);
        if (problem is not null)
        {
            return problem;
        }

        var errors = Common(factory, request!.EventId);
        Require(errors, "bin", request.Bin);
        MovementKind? kind = request.Kind?.Replace("-", "", StringComparison.Ordinal).Replace("_", "", StringComparison.Ordinal).ToUpperInvariant() switch
        {
            "RECEIPT" => MovementKind.Receipt,
            "ISSUE" => MovementKind.Issue,
            "TRANSFER" => MovementKind.Transfer,
            "COUNTADJUSTMENT" => MovementKind.CountAdjustment,
            "RESERVE" => MovementKind.Reserve,
            "UNRESERVE" => MovementKind.Unreserve,
            _ => null,
        };
        if (kind is null)
        {
            errors["kind"] = ["one of receipt, issue, transfer, countAdjustment, reserve, unreserve"];
        }

        if (request.Quantity is null || (kind == MovementKind.CountAdjustment ? request.Quantity < 0 : request.Quantity <= 0))
        {
            errors["quantity"] = [kind == MovementKind.CountAdjustment ? "required, 0 or more (the counted on-hand)" : "required, positive"];
        }

        if (kind == MovementKind.Transfer)
        {
            if (!TwinKey.IsValidId(request.TargetBin, out var targetError))
            {
                errors["targetBin"] = ["required for a transfer; " + targetError];
            }
            else if (request.TargetBin == request.Bin)
            {
                errors["targetBin"] = ["must differ from bin"];
            }
        }

        if (request.Reference is { Length: > 200 })
        {
            errors["reference"] = ["at most 200 characters"];
        }

        if (request.Lot is not null && !TwinKey.IsValidId(request.Lot, out var lotError))
        {
            errors["lot"] = [lotError];
        }

        if (errors.Count > 0)
        {
            return await RejectAsync(factory, http, grains, raw, errors, time);
        }

        var movement = new StockMovement(request.EventId!, kind!.Value, request.Quantity!.Value, request.Ts ?? time.GetUtcNow(), kind == MovementKind.Transfer ? request.TargetBin : null, request.Reference, request.Lot);
        // A movement without a lot keeps the fingerprint it had before lots, so a replay of an older event still matches.
        var fingerprint = request.Lot is null
            ? Fingerprint(new MovementFingerprint(request.EventId, request.Bin, request.Kind, request.Quantity, request.TargetBin, request.Ts, request.Reference), json.Value)
            : Fingerprint(request, json.Value);
        return await ApplyAsync(grains, factory, "wms", new StockMovementEvent(request.EventId!, fingerprint, request.Bin!, movement));
    }

    private static async Task<IResult> PostDispatchAsync(string factory, HttpRequest http, IGrainFactory grains, IOptions<JsonOptions> json, TimeProvider time)
    {
        var (request, raw, problem) = await ReadAsync<DispatchEventRequest>(factory, http, grains, json.Value, time);
        if (problem is not null)
        {
            return problem;
        }

        var errors = Common(factory, request!.EventId);
        Require(errors, "workOrder", request.WorkOrder);
        Require(errors, "line", request.Line);
        if (errors.Count > 0)
        {
            return await RejectAsync(factory, http, grains, raw, errors, time);
        }

        return await ApplyAsync(grains, factory, "mes", new DispatchEvent(request.EventId!, Fingerprint(request, json.Value), request.WorkOrder!, request.Line!));
    }

    private static async Task<IResult> PostInspectionAsync(string factory, HttpRequest http, IGrainFactory grains, IOptions<JsonOptions> json, IOptions<Twin.Ingestion.IngestOptions> ingest, TimeProvider time)
    {
        var (request, raw, problem) = await ReadAsync<InspectionEventRequest>(factory, http, grains, json.Value, time);
        if (problem is not null)
        {
            return problem;
        }

        var errors = Common(factory, request!.EventId);
        Require(errors, "machine", request.Machine);
        if (request.Ts is null)
        {
            errors["ts"] = ["required: the inspection's event time"];
        }
        else if (ingest.Value.Limits.Future(request.Ts.Value, time.GetUtcNow()) is { } future)
        {
            // As on the quality topic: one far-future inspection would empty the machine's quality windows.
            errors["ts"] = [future];
        }

        foreach (var (field, id) in new[] { ("part", request.Part), ("batch", request.Batch), ("workOrder", request.WorkOrder), ("defect", request.Defect) })
        {
            if (id is not null && !TwinKey.IsValidId(id, out var idError))
            {
                errors[field] = [idError];
            }
        }

        var measurements = new List<Twin.Quality.Measurement>();
        var given = request.Measurements ?? [];
        if (given.Count > Twin.Ingestion.QualityPayload.MaxMeasurements)
        {
            errors["measurements"] = [$"at most {Twin.Ingestion.QualityPayload.MaxMeasurements}"];
        }

        for (var i = 0; i < given.Count && i < Twin.Ingestion.QualityPayload.MaxMeasurements; i++)
        {
            var m = given[i];
            if (Twin.Ingestion.QualityPayload.Measure(m?.Characteristic, m?.Value, m?.Lsl, m?.Usl, m?.Nominal, m?.Unit, out var measurement) is { } error)
            {
                errors[$"measurements[{i}]"] = [error];
            }
            else if (measurements.Exists(x => x.Characteristic == measurement!.Characteristic))
            {
                errors[$"measurements[{i}]"] = [$"measurements.duplicate: '{measurement!.Characteristic}' appears twice"];
            }
            else
            {
                measurements.Add(measurement!);
            }
        }

        Twin.Quality.QualityMessage? inspection = null;
        if (errors.Count == 0)
        {
            var (built, buildError) = Twin.Ingestion.QualityPayload.Build(0, request.Ts!.Value, measurements, request.Part, request.Batch, request.WorkOrder, request.Defect, request.Reinspection ?? false, request.Start);
            if (built is null)
            {
                errors["measurements"] = [buildError!];
            }

            inspection = built;
        }

        if (errors.Count > 0)
        {
            return await RejectAsync(factory, http, grains, raw, errors, time);
        }

        return await ApplyAsync(grains, factory, "mes", new InspectionEvent(request.EventId!, Fingerprint(request, json.Value), request.Machine!, inspection!));
    }

    private static async Task<IResult> ApplyAsync(IGrainFactory grains, string factory, string channel, BusinessEvent businessEvent)
    {
        var outcome = await grains.GetGrain<IBusinessEventGrain>($"{factory}/{channel}/{businessEvent.EventId}").ApplyOnceAsync(businessEvent);
        if (outcome.Applied)
        {
            return TypedResults.Ok(outcome);
        }

        return TypedResults.Problem(new Microsoft.AspNetCore.Mvc.ProblemDetails
        {
            Status = StatusCodes.Status409Conflict,
            Title = "Refused by a twin rule",
            Detail = outcome.Detail,
            Extensions = { ["code"] = outcome.Code, ["outcome"] = outcome },
        });
    }

    internal static Dictionary<string, string[]> Common(string factory, string? eventId)
    {
        var errors = ApiSupport.ValidateIds(("factory", factory)) ?? [];
        if (string.IsNullOrEmpty(eventId) || eventId.Length > MaxEventIdLength || !eventId.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' or ':'))
        {
            errors["eventId"] = [$"required: the sender's idempotency id, 1 to {MaxEventIdLength} letters, digits, '-', '_', '.', ':'"];
        }

        return errors;
    }

    private static void Require(Dictionary<string, string[]> errors, string field, string? id)
    {
        if (!TwinKey.IsValidId(id, out var error))
        {
            errors[field] = [error];
        }
    }

    /// <summary>A movement event as it was before lots: what a movement without a lot is fingerprinted as.</summary>
    private sealed record MovementFingerprint(string? EventId, string? Bin, string? Kind, decimal? Quantity, string? TargetBin, DateTimeOffset? Ts, string? Reference);

    internal static string Fingerprint<T>(T request, JsonOptions json) =>
        Convert.ToHexString(SHA256.HashData(JsonSerializer.SerializeToUtf8Bytes(request, json.SerializerOptions)));

    internal static async Task<(T? Request, string Raw, IResult? Problem)> ReadAsync<T>(string factory, HttpRequest http, IGrainFactory grains, JsonOptions json, TimeProvider time)
        where T : class
    {
        var maxBodyBytes = http.HttpContext.RequestServices.GetRequiredService<IOptions<HttpLimitsOptions>>().Value.MaxEventBodyBytes;
        var tooLarge = TypedResults.Problem(statusCode: StatusCodes.Status413PayloadTooLarge, title: "Payload too large", detail: $"An event may be at most {maxBodyBytes} bytes (Twin:Http:MaxEventBodyBytes).");
        if (http.ContentLength > maxBodyBytes)
        {
            return (null, "", tooLarge);
        }

        using var reader = new StreamReader(http.Body, Encoding.UTF8);
        var buffer = new char[Math.Min(maxBodyBytes, 64 * 1024) + 1];
        var text = new StringBuilder();
        int read;
        while ((read = await reader.ReadAsync(buffer.AsMemory())) > 0)
        {
            text.Append(buffer, 0, read);
            if (text.Length > maxBodyBytes)
            {
                return (null, "", tooLarge);
            }
        }


        var raw = text.ToString();
        try
        {
            var request = JsonSerializer.Deserialize<T>(raw, json.SerializerOptions);
            if (request is null)
            {
                throw new JsonException("the body is null");
            }

            return (request, raw, null);
        }
        catch (JsonException ex)
        {
            var (field, reason) = JsonFaults.Describe(ex);
            var detail = field == "body" ? reason : $"{field}: {reason}";
            return (null, raw, await RejectAsync(factory, http, grains, raw, new Dictionary<string, string[]> { ["body"] = ["payload.malformed: " + detail] }, time));
        }
    }

    internal static async Task<IResult> RejectAsync(string factory, HttpRequest http, IGrainFactory grains, string raw, Dictionary<string, string[]> errors, TimeProvider time)
    {
        if (TwinKey.IsValidId(factory, out _))
        {
            var reason = string.Join("; ", errors.Select(e => $"{e.Key}: {string.Join(", ", e.Value)}"));
            var code = errors.Count == 1 && errors.Values.First()[0].StartsWith("payload.malformed", StringComparison.Ordinal) ? "payload.malformed" : "event.invalid";
            await grains.GetGrain<IDeadLetterGrain>(factory).RecordAsync([new DeadLetter(time.GetUtcNow(), "http", http.Path.Value, $"{code}: {reason}", raw).Bounded()]);
        }

        return TypedResults.ValidationProblem(errors);
    }
}
