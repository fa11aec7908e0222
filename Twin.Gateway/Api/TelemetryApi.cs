using System.Collections.Immutable;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Options;
using Twin.DeadLetters;
using Twin.Ingestion;
using Twin.Machines;
using Twin.Gateway.Security;

namespace Twin.Gateway.Api;

/// <summary>The result of posting telemetry: what the twin did, once durable.</summary>
public sealed record TelemetryAccepted(int Received, int Applied, int Late, int Duplicates, int TooOld, long Version, IReadOnlyList<RejectedMessage> Rejected);

internal static class TelemetryApi
{
    private const string Source = "http";
    private const int ChunkSize = 1000;
    private const int MaxDeadLettersPerRequest = 100;

    public static RouteGroupBuilder MapTelemetryApi(this IEndpointRouteBuilder app)
    {
        var limits = app.ServiceProvider.GetRequiredService<IOptions<HttpLimitsOptions>>().Value;
        var group = app.MapFactoryGroup("/machines/{machine}").WithTags("Machines");
        group.MapPost("/telemetry", PostAsync)
            .RequireAuthorization(TwinPolicies.Integrator)
            .WithName("PostTelemetry")
            .WithSummary("The MQTT telemetry payload, or an array of them, over HTTP: same validation, dedup and durability. For backfill and CSV import.")
            .Accepts<JsonElement>("application/json")
            .WithMetadata(new RequestSizeLimitAttribute(limits.MaxTelemetryBodyBytes));
        return group;
    }

    private static async Task<Results<Ok<TelemetryAccepted>, ValidationProblem, ProblemHttpResult>> PostAsync(
        string factory,
        string machine,
        HttpRequest request,
        IngestPipeline pipeline,
        IOptions<HttpLimitsOptions> httpLimits,
        TimeProvider time,
        CancellationToken cancellationToken)
    {
        var receivedAt = System.Diagnostics.Stopwatch.GetTimestamp();
        if (ApiSupport.ValidateIds(("factory", factory), ("machine", machine)) is { } idErrors)
        {
            return TypedResults.ValidationProblem(idErrors);
        }

        byte[] body;
        try
        {
            body = await ReadBodyAsync(request, httpLimits.Value.MaxTelemetryBodyBytes, cancellationToken);
        }
        catch (BadHttpRequestException ex) when (ex.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            return TypedResults.Problem(statusCode: StatusCodes.Status413PayloadTooLarge, title: "Payload too large", detail: $"A request may carry at most {httpLimits.Value.MaxTelemetryBodyBytes} bytes (Twin:Http:MaxTelemetryBodyBytes); split the backfill into several requests.");
        }

        var now = time.GetUtcNow();
        var path = $"/api/factories/{factory}/machines/{machine}/telemetry";
        var payloads = Split(body, out var splitError);
        if (splitError is not null)
        {
            await pipeline.DeadLetterAsync(Source, factory, [IngestPipeline.Letter(Source, new Origin(path, body, body.Length, receivedAt), splitError, now)], retry: false, cancellationToken);
            return TypedResults.ValidationProblem(new Dictionary<string, string[]> { ["body"] = [splitError] });
        }

        if (payloads.Count > httpLimits.Value.MaxPayloadsPerRequest)
        {
            return TypedResults.Problem(statusCode: StatusCodes.Status413PayloadTooLarge, title: "Too many payloads", detail: $"A request may carry at most {httpLimits.Value.MaxPayloadsPerRequest} payloads (Twin:Http:MaxPayloadsPerRequest); it has {payloads.Count}.");
        }

        var target = new MachineTopic(factory, machine, MachineTopicKind.Telemetry);
        var normaliser = await pipeline.NormaliserAsync(factory);
        var messages = new List<MachineMessage>(payloads.Count);
        var origins = new List<Origin>(payloads.Count);
        var errors = new Dictionary<string, string[]>();
        var rejected = new List<DeadLetter>();
        for (var i = 0; i < payloads.Count; i++)
        {
            var origin = new Origin(path, payloads[i], payloads[i].Length, receivedAt);
            var parsed = pipeline.Prepare(target, origin, now, normaliser);
            if (parsed.Ok)
            {
                messages.Add(parsed.Message!);
                origins.Add(origin);
            }
            else
            {
                errors[payloads.Count == 1 && !body.AsSpan().TrimStart(" \t\r\n"u8).StartsWith("["u8) ? "body" : $"[{i}]"] = [parsed.Error!];
                rejected.Add(IngestPipeline.Letter(Source, origin, parsed.Error!, now));
            }
        }

        if (errors.Count > 0)
        {
            // All or nothing: fix the listed payloads and send the request again.
            await pipeline.DeadLetterAsync(Source, factory, [.. rejected.Take(MaxDeadLettersPerRequest)], retry: false, cancellationToken);
            return TypedResults.ValidationProblem(errors, title: $"{errors.Count} of {payloads.Count} payloads are invalid; nothing was applied");
        }

        var key = TwinKey.Compose(factory, machine);
        int applied = 0, late = 0, duplicates = 0, tooOld = 0;
        long version = 0;
        var refused = new List<RejectedMessage>();
        for (var start = 0; start < messages.Count; start += ChunkSize)
        {
            var count = Math.Min(ChunkSize, messages.Count - start);
            // Not retried here: the caller gets 503 on a failed call and sends again (the twin dedups).
            var result = (await pipeline.ApplyAsync(Source, key, messages.GetRange(start, count), origins.GetRange(start, count), retry: false, cancellationToken))!;
            (applied, late, duplicates, tooOld, version) = (applied + result.Applied, late + result.Late, duplicates + result.Duplicates, tooOld + result.TooOld, result.Version);
            if (!result.Rejected.IsDefaultOrEmpty)
            {
                refused.AddRange(result.Rejected);
            }
        }

        return TypedResults.Ok(new TelemetryAccepted(messages.Count, applied, late, duplicates, tooOld, version, refused));
    }

    private static async Task<byte[]> ReadBodyAsync(HttpRequest request, int maxBodyBytes, CancellationToken cancellationToken)
    {
        if (request.ContentLength > maxBodyBytes)
        {
            throw new BadHttpRequestException("too large", StatusCodes.Status413PayloadTooLarge);
        }

        using var buffer = new MemoryStream();
        var chunk = new byte[64 * 1024];
        int read;
        while ((read = await request.Body.ReadAsync(chunk, cancellationToken)) > 0)
        {
            if (buffer.Length + read > maxBodyBytes)
            {
                throw new BadHttpRequestException("too large", StatusCodes.Status413PayloadTooLarge);
            }

            buffer.Write(chunk, 0, read);
        }

        return buffer.ToArray();
    }

    /// <summary>One payload, or the elements of a top-level array, as raw UTF-8 slices.</summary>
    private static List<ReadOnlyMemory<byte>> Split(byte[] body, out string? error)
    {
        error = null;
        var trimmed = body.AsSpan().TrimStart(" \t\r\n"u8);
        if (trimmed.IsEmpty || trimmed[0] != (byte)'[')
        {
            return [body];
        }

        var list = new List<ReadOnlyMemory<byte>>();
        try
        {
            // No depth limit of its own (the body size bounds it): an element nested too deep is
            // refused by the parser at its index, like any other bad element.
            var reader = new Utf8JsonReader(body, new JsonReaderOptions { MaxDepth = body.Length + 1 });
            reader.Read();
            while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
            {
                var start = (int)reader.TokenStartIndex;
                reader.Skip();
                var end = (int)reader.BytesConsumed;
                list.Add(body.AsMemory(start, end - start));
            }

            if (reader.Read())
            {
                error = "payload.trailing: there is more after the JSON array";
            }
        }
        catch (JsonException ex)
        {
            error = $"payload.malformed: {ex.Message}";
        }
        catch (InvalidOperationException)
        {
            error = "payload.encoding: the body is not valid UTF-8 JSON";
        }

        return list;
    }
}
