using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization.Metadata;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Sandbox.Policy.Opa;

/// <summary>
/// Client of OPA's REST Data API, named like the official C# SDK: Check, Evaluate, EvaluateWithDetails,
/// EvaluateDefault, Health. Always sends <c>{"input": ...}</c> to /v1/data. Reflection-free (pass a JsonTypeInfo for POCOs).
/// </summary>
public sealed class OpaClient : IDisposable
{
    private static readonly HashSet<int> RetryableStatuses = [429, 500, 502, 503, 504];

    private readonly HttpClient _http;
    private readonly bool _ownsHttp;
    private readonly OpaClientOptions _options;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;

    public OpaClient(string serverUrl = "http://localhost:8181", ILogger? logger = null)
        : this(new OpaClientOptions { ServerUrl = new Uri(serverUrl) }, null, logger)
    {
    }

    public OpaClient(OpaClientOptions options, HttpClient? httpClient = null, ILogger? logger = null, TimeProvider? timeProvider = null)
    {
        _options = options;
        _ownsHttp = httpClient is null;
        _http = httpClient ?? new HttpClient { Timeout = System.Threading.Timeout.InfiniteTimeSpan };
        _logger = logger ?? NullLogger.Instance;
        _time = timeProvider ?? TimeProvider.System;
    }

    public void Dispose()
    {
        if (_ownsHttp) _http.Dispose();
    }

    /// <summary>True when the document at <paramref name="path"/> is <c>true</c>; false when it is false or undefined.</summary>
    public async Task<bool> CheckAsync(string path, JsonNode? input, CancellationToken cancellationToken = default)
    {
        var r = await EvaluateWithDetailsAsync<JsonNode>(path, input, cancellationToken: cancellationToken).ConfigureAwait(false);
        if (!r.Defined) return false;
        if (r.Result is JsonValue v && v.GetValueKind() is JsonValueKind.True or JsonValueKind.False) return v.GetValue<bool>();
        throw new OpaException(new OpaError("invalid_result", $"{path} is not a boolean: {r.Result?.ToJsonString()}", [], r.DecisionId, 200));
    }

    /// <summary>The document at <paramref name="path"/>; throws <see cref="OpaException"/> (undefined_document) when undefined.</summary>
    public async Task<T?> EvaluateAsync<T>(string path, JsonNode? input, JsonTypeInfo<T>? typeInfo = null, CancellationToken cancellationToken = default)
    {
        var r = await EvaluateWithDetailsAsync(path, input, typeInfo, cancellationToken).ConfigureAwait(false);
        if (!r.Defined) throw new OpaException(new OpaError("undefined_document", $"document {path} is undefined", [], r.DecisionId, 200));
        return r.Result;
    }

    /// <summary>The document at <paramref name="path"/> with details; undefined is a result (Defined = false), not an error.</summary>
    public async Task<OpaResult<T>> EvaluateWithDetailsAsync<T>(string path, JsonNode? input, JsonTypeInfo<T>? typeInfo = null, CancellationToken cancellationToken = default)
    {
        var body = new JsonObject { ["input"] = input?.DeepClone() };
        var query = new List<string>();
        if (_options.StrictBuiltinErrors) query.Add("strict-builtin-errors=true");
        if (_options.Provenance) query.Add("provenance=true");
        var uri = "v1/data/" + string.Join('/', path.Trim('/').Split('/').Select(Uri.EscapeDataString)) + (query.Count > 0 ? "?" + string.Join('&', query) : "");
        var (status, doc) = await SendAsync(HttpMethod.Post, uri, body.ToJsonString(), cancellationToken).ConfigureAwait(false);
        var obj = doc as JsonObject ?? throw Invalid(status, "response is not a JSON object");
        if (status != HttpStatusCode.OK) throw new OpaException(ReadError(obj, (int)status));
        var decisionId = obj["decision_id"]?.GetValue<string>();
        var revision = obj["provenance"]?["revision"]?.GetValue<string>()
            ?? (obj["provenance"]?["bundles"] as JsonObject)?.Select(b => b.Value?["revision"]?.GetValue<string>()).FirstOrDefault(r => r is not null);
        var warning = obj["warning"]?["code"]?.GetValue<string>();
        if (!obj.TryGetPropertyValue("result", out var result)) return new OpaResult<T>(false, default, decisionId, revision, warning);
        return new OpaResult<T>(true, Convert(result, typeInfo), decisionId, revision, warning);
    }

    /// <summary>OPA's default decision (<c>POST /</c>, the body is the input itself).</summary>
    public async Task<T?> EvaluateDefaultAsync<T>(JsonNode? input, JsonTypeInfo<T>? typeInfo = null, CancellationToken cancellationToken = default)
    {
        var (status, doc) = await SendAsync(HttpMethod.Post, "", input?.ToJsonString() ?? "null", cancellationToken).ConfigureAwait(false);
        if (status != HttpStatusCode.OK) throw new OpaException(doc is JsonObject eo ? ReadError(eo, (int)status) : new OpaError("internal_error", $"HTTP {(int)status}", [], null, (int)status));
        return Convert(doc, typeInfo);
    }

    /// <summary>True when <c>GET /health</c> answers 200.</summary>
    public async Task<bool> HealthAsync(CancellationToken cancellationToken = default)
    {
        try
        {
            var (status, _) = await SendAsync(HttpMethod.Get, "health", null, cancellationToken).ConfigureAwait(false);
            return status == HttpStatusCode.OK;
        }
        catch (OpaException)
        {
            return false;
        }
    }

    private static T? Convert<T>(JsonNode? node, JsonTypeInfo<T>? typeInfo)
    {
        if (typeInfo is not null) return node is null ? default : node.Deserialize(typeInfo);
        if (node is null) return default;
        if (node is T t) return t;
        if (node is JsonValue v && v.TryGetValue<T>(out var prim)) return prim;
        throw new OpaException(new OpaError("invalid_result", $"cannot convert the result to {typeof(T).Name} without a JsonTypeInfo", [], null, 200));
    }

    private async Task<(HttpStatusCode Status, JsonNode? Doc)> SendAsync(HttpMethod method, string relative, string? json, CancellationToken ct)
    {
        var uri = new Uri(_options.ServerUrl, relative);
        for (var attempt = 0; ; attempt++)
        {
            using var request = new HttpRequestMessage(method, uri);
            if (json is not null) request.Content = new StringContent(json, Encoding.UTF8, "application/json");
            if (_options.BearerToken is { } token) request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
            timeout.CancelAfter(_options.Timeout);
            int status;
            try
            {
                using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeout.Token).ConfigureAwait(false);
                status = (int)response.StatusCode;
                if (!RetryableStatuses.Contains(status) || attempt >= _options.MaxRetries)
                {
                    if (response.Content.Headers.ContentLength > _options.MaxResponseBytes) throw Invalid(response.StatusCode, "response too large");
                    var bytes = await response.Content.ReadAsByteArrayAsync(timeout.Token).ConfigureAwait(false);
                    if (bytes.Length > _options.MaxResponseBytes) throw Invalid(response.StatusCode, "response too large");
                    JsonNode? doc;
                    try
                    {
                        doc = bytes.Length == 0 ? null : JsonNode.Parse(bytes, documentOptions: new JsonDocumentOptions { MaxDepth = 256 });
                    }
                    catch (JsonException e)
                    {
                        throw new OpaException(new OpaError("invalid_response", $"OPA returned malformed JSON (HTTP {status}): {e.Message}", [], null, status), e);
                    }
                    return (response.StatusCode, doc);
                }
            }
            catch (OperationCanceledException e) when (!ct.IsCancellationRequested)
            {
                if (attempt >= _options.MaxRetries)
                    throw new OpaException(new OpaError("timeout", $"OPA did not answer {uri.AbsolutePath} within {_options.Timeout.TotalMilliseconds} ms", [], null, 0), e);
                status = 0;
            }
            catch (HttpRequestException e)
            {
                if (attempt >= _options.MaxRetries)
                    throw new OpaException(new OpaError("unavailable", $"OPA at {_options.ServerUrl} is unreachable: {e.Message}", [], null, 0), e);
                status = 0;
            }
            var delay = _options.RetryDelay * Math.Pow(2, attempt);
            PolicyLog.Retrying(_logger, uri.AbsolutePath, status, attempt + 1, _options.MaxRetries, delay.TotalMilliseconds);
            await Task.Delay(delay, _time, ct).ConfigureAwait(false);
        }
    }

    private static OpaException Invalid(HttpStatusCode status, string message) =>
        new(new OpaError("invalid_response", message, [], null, (int)status));

    private static OpaError ReadError(JsonObject obj, int status)
    {
        var details = new List<OpaErrorDetail>();
        if (obj["errors"] is JsonArray errs)
        {
            foreach (var e in errs.OfType<JsonObject>())
            {
                OpaLocation? loc = null;
                if (e["location"] is JsonObject l)
                    loc = new OpaLocation(l["file"]?.GetValue<string>() ?? "", l["row"]?.GetValue<int>() ?? 0, l["col"]?.GetValue<int>() ?? 0);
                details.Add(new OpaErrorDetail(e["code"]?.GetValue<string>() ?? "", e["message"]?.GetValue<string>() ?? "", loc));
            }
        }
        return new OpaError(obj["code"]?.GetValue<string>() ?? "internal_error", obj["message"]?.GetValue<string>() ?? $"HTTP {status}", details, obj["decision_id"]?.GetValue<string>(), status);
    }
}
