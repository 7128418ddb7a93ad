using System.Buffers;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Sandbox.Policy.Rego;

namespace Sandbox.PolicyServer;

/// <summary>The Data API's routes and response shapes (OPA's REST API: result, decision_id, warning, error bodies).</summary>
internal sealed class OpaDataApiHandler(CompiledPolicy policy, OpaServerOptions options)
{
    private const string DataPrefix = "/v1/data";
    private readonly BearerToken? _token = options.BearerToken is { } t ? new BearerToken(t) : null;
    private readonly EvalOptions _strictOptions = new()
    {
        MaxSteps = options.EvalOptions.MaxSteps,
        MaxDepth = options.EvalOptions.MaxDepth,
        Timeout = options.EvalOptions.Timeout,
        StrictBuiltinErrors = true,
    };
    private readonly EvalOptions _laxOptions = new()
    {
        MaxSteps = options.EvalOptions.MaxSteps,
        MaxDepth = options.EvalOptions.MaxDepth,
        Timeout = options.EvalOptions.Timeout,
        StrictBuiltinErrors = false,
    };

    public async Task HandleAsync(HttpContext ctx)
    {
        var request = ctx.Request;
        if (_token is not null && !_token.Matches(request.Headers.Authorization.ToString()))
        {
            await ErrorAsync(ctx, 401, "unauthorized", "missing or invalid bearer token").ConfigureAwait(false);
            return;
        }
        var path = request.Path.Value ?? "/";
        if (path == "/health")
        {
            if (HttpMethods.IsGet(request.Method)) await WriteAsync(ctx, 200, w => w.WriteStartObject(), w => w.WriteEndObject()).ConfigureAwait(false);
            else await MethodNotAllowedAsync(ctx, path).ConfigureAwait(false);
            return;
        }
        if (path == "/")
        {
            if (HttpMethods.IsPost(request.Method)) await DefaultDecisionAsync(ctx).ConfigureAwait(false);
            else await MethodNotAllowedAsync(ctx, path).ConfigureAwait(false);
            return;
        }
        if (path == DataPrefix || path.StartsWith(DataPrefix + "/", StringComparison.Ordinal))
        {
            if (HttpMethods.IsPost(request.Method) || HttpMethods.IsGet(request.Method))
                await DataAsync(ctx, path.Length > DataPrefix.Length ? path[(DataPrefix.Length + 1)..] : "").ConfigureAwait(false);
            else await MethodNotAllowedAsync(ctx, path).ConfigureAwait(false);
            return;
        }
        await ErrorAsync(ctx, 404, "resource_not_found", $"no route for {request.Method} {path}").ConfigureAwait(false);
    }

    private async Task DefaultDecisionAsync(HttpContext ctx)
    {
        var (body, failure) = await ReadBodyAsync(ctx).ConfigureAwait(false);
        if (failure is not null)
        {
            await failure.ConfigureAwait(false);
            return;
        }
        RegoInput? input;
        try
        {
            input = body.Length == 0 ? null : RegoInput.ParseJson(body);
        }
        catch (RegoException e)
        {
            await ErrorAsync(ctx, 400, "invalid_parameter", e.Message).ConfigureAwait(false);
            return;
        }
        var r = policy.Evaluate(ToQuery(options.DefaultDecision), input, options.EvalOptions);
        switch (r.Kind)
        {
            case RegoResultKind.Defined:
                await WriteAsync(ctx, 200, w => w.WriteRawValue(r.ValueJson!, skipInputValidation: true), null).ConfigureAwait(false);
                break;
            case RegoResultKind.Undefined:
                await ErrorAsync(ctx, 404, "undefined_document", $"document {options.DefaultDecision} is undefined").ConfigureAwait(false);
                break;
            default:
                await ErrorAsync(ctx, 500, "internal_error", "error(s) occurred while evaluating query", r.Error).ConfigureAwait(false);
                break;
        }
    }

    private async Task DataAsync(HttpContext ctx, string path)
    {
        var request = ctx.Request;
        RegoInput? input = null;
        var inputMissing = false;
        try
        {
            if (HttpMethods.IsGet(request.Method))
            {
                if (request.Query.TryGetValue("input", out var q)) input = RegoInput.ParseJson(q.ToString());
            }
            else
            {
                var (body, failure) = await ReadBodyAsync(ctx).ConfigureAwait(false);
                if (failure is not null)
                {
                    await failure.ConfigureAwait(false);
                    return;
                }
                if (body.Length > 0)
                {
                    input = RegoInput.ParseJson(body).Member("input");
                    inputMissing = input is null;
                }
            }
        }
        catch (RegoException e)
        {
            await ErrorAsync(ctx, 400, "invalid_parameter", e.Message).ConfigureAwait(false);
            return;
        }
        var strict = request.Query.TryGetValue("strict-builtin-errors", out var s) && s.ToString() is "" or "true";
        var r = policy.Evaluate(ToQuery(path), input, strict ? _strictOptions : options.EvalOptions.StrictBuiltinErrors ? _laxOptions : options.EvalOptions);
        if (r.Kind == RegoResultKind.Error)
        {
            var compile = r.Error!.Code.StartsWith("rego_", StringComparison.Ordinal);
            await ErrorAsync(ctx, compile ? 400 : 500, compile ? "invalid_parameter" : "internal_error", "error(s) occurred while evaluating query", r.Error).ConfigureAwait(false);
            return;
        }
        var provenance = request.Query.TryGetValue("provenance", out var p) && p.ToString() is "" or "true";
        await WriteAsync(ctx, 200, w =>
        {
            w.WriteStartObject();
            w.WriteString("decision_id", Guid.NewGuid().ToString("D"));
            if (provenance)
            {
                w.WriteStartObject("provenance");
                w.WriteString("version", "sandbox-embedded");
                if (policy.Revision is { } rev) w.WriteString("revision", rev);
                w.WriteEndObject();
            }
            if (r.Kind == RegoResultKind.Defined)
            {
                w.WritePropertyName("result");
                w.WriteRawValue(r.ValueJson!, skipInputValidation: true);
            }
            if (inputMissing)
            {
                w.WriteStartObject("warning");
                w.WriteString("code", "api_usage_warning");
                w.WriteString("message", "'input' key missing from the request");
                w.WriteEndObject();
            }
        }, w => w.WriteEndObject()).ConfigureAwait(false);
    }

    /// <summary>Reads the whole body within Kestrel's MaxRequestBodySize; over it, the 413 to send instead.</summary>
    private static async Task<(byte[] Body, Task? Failure)> ReadBodyAsync(HttpContext ctx)
    {
        try
        {
            using var buffer = new MemoryStream();
            await ctx.Request.Body.CopyToAsync(buffer, ctx.RequestAborted).ConfigureAwait(false);
            return (buffer.ToArray(), null);
        }
        catch (BadHttpRequestException e)
        {
            var limit = ctx.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpMaxRequestBodySizeFeature>()?.MaxRequestBodySize;
            var message = e.StatusCode == 413 ? $"request body is larger than the limit of {limit} bytes" : e.Message;
            return ([], ErrorAsync(ctx, e.StatusCode, "invalid_parameter", message));
        }
    }

    /// <summary>"sandbox/decision" → data["sandbox"]["decision"] (any segment text is safe).</summary>
    internal static string ToQuery(string path)
    {
        var sb = new StringBuilder("data");
        foreach (var seg in path.Split('/', StringSplitOptions.RemoveEmptyEntries))
            sb.Append('[').Append(JsonSerializer.Serialize(seg, OpaJsonContext.Default.String)).Append(']');
        return sb.ToString();
    }

    private static Task MethodNotAllowedAsync(HttpContext ctx, string path) =>
        ErrorAsync(ctx, 405, "invalid_operation", $"method {ctx.Request.Method} is not allowed on {path}");

    private static Task ErrorAsync(HttpContext ctx, int status, string code, string message, RegoError? error = null) =>
        WriteAsync(ctx, status, w =>
        {
            w.WriteStartObject();
            w.WriteString("code", code);
            w.WriteString("message", message);
            if (error is not null)
            {
                w.WriteStartArray("errors");
                error.WriteJson(w);
                w.WriteEndArray();
            }
        }, w => w.WriteEndObject());

    private static async Task WriteAsync(HttpContext ctx, int status, Action<Utf8JsonWriter> body, Action<Utf8JsonWriter>? end)
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        using (var w = new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            body(w);
            end?.Invoke(w);
        }
        ctx.Response.StatusCode = status;
        ctx.Response.ContentType = "application/json";
        ctx.Response.ContentLength = buffer.WrittenCount;
        await ctx.Response.Body.WriteAsync(buffer.WrittenMemory, ctx.RequestAborted).ConfigureAwait(false);
    }
}
