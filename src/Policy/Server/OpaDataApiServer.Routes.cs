using System.Text;
using Sandbox.Policy.Rego;

namespace Sandbox.Policy.Server;

public sealed partial class OpaDataApiServer
{
    private HttpResponse Handle(HttpRequest request)
    {
        if (_options.BearerToken is { } token &&
            (!request.Headers.TryGetValue("Authorization", out var auth) || auth != "Bearer " + token))
            return new HttpResponse(401, ErrorBody("unauthorized", "missing or invalid bearer token", []));

        if (request.Path == "/health")
            return request.Method == "GET" ? new HttpResponse(200, "{}") : MethodNotAllowed(request);

        if (request.Path == "/")
        {
            if (request.Method != "POST") return MethodNotAllowed(request);
            Value? input;
            try
            {
                input = request.Body.Length == 0 ? null : ValueJson.Parse(request.Body);
            }
            catch (RegoException e)
            {
                return new HttpResponse(400, ErrorBody("invalid_parameter", e.Message, []));
            }
            var r = _policy.Evaluate(ToQuery(_options.DefaultDecision), input, _options.EvalOptions);
            return r.Kind switch
            {
                RegoResultKind.Defined => new HttpResponse(200, r.RawValue!.ToJson()),
                RegoResultKind.Undefined => new HttpResponse(404, ErrorBody("undefined_document", $"document {_options.DefaultDecision} is undefined", [])),
                _ => new HttpResponse(500, ErrorBody("internal_error", "error(s) occurred while evaluating query", [r.Error!])),
            };
        }

        const string prefix = "/v1/data";
        if (request.Path == prefix || request.Path.StartsWith(prefix + "/", StringComparison.Ordinal))
        {
            if (request.Method is not ("POST" or "GET")) return MethodNotAllowed(request);
            var path = request.Path.Length > prefix.Length ? Uri.UnescapeDataString(request.Path[(prefix.Length + 1)..]) : "";
            return EvaluateData(path, request);
        }
        return new HttpResponse(404, ErrorBody("resource_not_found", $"no route for {request.Method} {request.Path}", []));
    }

    private HttpResponse EvaluateData(string path, HttpRequest request)
    {
        Value? input = null;
        string? warning = null;
        try
        {
            if (request.Method == "GET")
            {
                if (request.QueryParam("input") is { } q) input = ValueJson.Parse(q);
            }
            else if (request.Body.Length > 0)
            {
                var doc = ValueJson.Parse(request.Body);
                if (doc is ObjectValue o && o.Get("input") is { } i) input = i;
                else warning = "'input' key missing from the request";
            }
        }
        catch (RegoException e)
        {
            return new HttpResponse(400, ErrorBody("invalid_parameter", e.Message, []));
        }
        var strict = request.QueryParam("strict-builtin-errors") is "" or "true";
        var options = strict == _options.EvalOptions.StrictBuiltinErrors ? _options.EvalOptions : new EvalOptions
        {
            MaxSteps = _options.EvalOptions.MaxSteps,
            MaxDepth = _options.EvalOptions.MaxDepth,
            Timeout = _options.EvalOptions.Timeout,
            StrictBuiltinErrors = strict,
        };
        var decisionId = Guid.NewGuid().ToString("D");
        var r = _policy.Evaluate(ToQuery(path), input, options);
        if (r.Kind == RegoResultKind.Error)
        {
            var code = r.Error!.Code.StartsWith("rego_", StringComparison.Ordinal) ? "invalid_parameter" : "internal_error";
            return new HttpResponse(code == "invalid_parameter" ? 400 : 500, ErrorBody(code, "error(s) occurred while evaluating query", [r.Error]));
        }
        var sb = new StringBuilder("{");
        sb.Append("\"decision_id\":");
        Value.WriteJsonString(sb, decisionId);
        if (request.QueryParam("provenance") is "" or "true")
        {
            sb.Append(",\"provenance\":{\"version\":\"sandbox-embedded\"");
            if (_policy.Revision is { } rev)
            {
                sb.Append(",\"revision\":");
                Value.WriteJsonString(sb, rev);
            }
            sb.Append('}');
        }
        if (r.Kind == RegoResultKind.Defined)
        {
            sb.Append(",\"result\":");
            r.RawValue!.WriteJson(sb);
        }
        if (warning is not null)
        {
            sb.Append(",\"warning\":{\"code\":\"api_usage_warning\",\"message\":");
            Value.WriteJsonString(sb, warning);
            sb.Append('}');
        }
        sb.Append('}');
        return new HttpResponse(200, sb.ToString());
    }

    /// <summary>"sandbox/decision" → data["sandbox"]["decision"] (any segment text is safe).</summary>
    internal static string ToQuery(string path)
    {
        var sb = new StringBuilder("data");
        foreach (var seg in path.Split('/', StringSplitOptions.RemoveEmptyEntries))
        {
            sb.Append('[');
            Value.WriteJsonString(sb, seg);
            sb.Append(']');
        }
        return sb.ToString();
    }

    private static HttpResponse MethodNotAllowed(HttpRequest r) =>
        new(405, ErrorBody("invalid_operation", $"method {r.Method} is not allowed on {r.Path}", []));

    internal static string ErrorBody(string code, string message, IReadOnlyList<RegoError> errors)
    {
        var sb = new StringBuilder("{\"code\":");
        Value.WriteJsonString(sb, code);
        sb.Append(",\"message\":");
        Value.WriteJsonString(sb, message);
        if (errors.Count > 0)
        {
            sb.Append(",\"errors\":[");
            for (var i = 0; i < errors.Count; i++)
            {
                if (i > 0) sb.Append(',');
                sb.Append("{\"code\":");
                Value.WriteJsonString(sb, errors[i].Code);
                sb.Append(",\"message\":");
                Value.WriteJsonString(sb, errors[i].Message);
                if (errors[i].Location is { } loc)
                {
                    sb.Append(",\"location\":{\"file\":");
                    Value.WriteJsonString(sb, loc.File);
                    sb.Append($",\"row\":{loc.Row},\"col\":{loc.Col}}}");
                }
                sb.Append('}');
            }
            sb.Append(']');
        }
        sb.Append('}');
        return sb.ToString();
    }
}
