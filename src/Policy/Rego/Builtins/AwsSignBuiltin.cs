using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace Sandbox.Policy.Rego;

/// <summary>
/// providers.aws.sign_req(request, aws_config, time_ns): the request object with AWS Signature Version 4 headers
/// added (Authorization, host, x-amz-date, x-amz-content-sha256, x-amz-security-token with a session token), as OPA
/// signs it: the method and path exactly as given, every request header signed, the payload hashed from
/// <c>raw_body</c>, else the JSON of <c>body</c>, else empty (or <c>UNSIGNED-PAYLOAD</c> when payload signing is off).
/// A caller's own x-amz-content-sha256 header is what gets signed, and is then replaced by the computed one (OPA's
/// order). Pure: it signs, it sends nothing.
/// </summary>
internal static class AwsSignBuiltin
{
    private const string Fn = "providers.aws.sign_req";
    private static readonly string[] RequiredConfig = ["aws_access_key", "aws_region", "aws_secret_access_key", "aws_service"];

    public static void Register(BuiltinTable t) => t.Register(Fn, 3, (a, _) => Sign(a));

    private static Value Sign(Value[] a)
    {
        var req = BuiltinTable.Obj(a, 0, Fn);
        var config = BuiltinTable.Obj(a, 1, Fn);
        var missingReq = new[] { "method", "url" }.Where(k => req.Get(k) is null).ToList();
        if (missingReq.Count > 0) throw new BuiltinTypeException($"{Fn}: operand 1 missing required request parameters(s): {Quoted(missingReq)}");
        var badReq = new[] { "method", "url" }.Where(k => req.Get(k) is not StringValue).ToList();
        if (badReq.Count > 0) throw new BuiltinTypeException($"{Fn}: operand 1 invalid values for required request parameters(s): {Quoted(badReq)}");
        var missingCfg = RequiredConfig.Where(k => config.Get(k) is null).ToList();
        if (missingCfg.Count > 0) throw new BuiltinTypeException($"{Fn}: operand 2 missing required AWS config parameters(s): {Quoted(missingCfg)}");
        var badCfg = RequiredConfig.Where(k => config.Get(k) is not StringValue).ToList();
        if (badCfg.Count > 0) throw new BuiltinTypeException($"{Fn}: operand 2 invalid values for required AWS config parameters(s): {Quoted(badCfg)}");
        var disablePayloadSigning = config.Get("disable_payload_signing") switch
        {
            null => false,
            BoolValue flag => flag.V,
            _ => throw new BuiltinTypeException($"{Fn}: operand 2 invalid value for 'disable_payload_signing' in AWS config"),
        };
        var token = config.Get("aws_session_token") as StringValue;
        if (a[2] is not NumberValue ns || !ns.TryGetInt(out var timeNs) || timeNs < 0)
            throw new BuiltinTypeException($"{Fn}: operand 3 could not convert time_ns value into a unix timestamp");

        var method = ((StringValue)req.Get("method")!).V;
        var url = ((StringValue)req.Get("url")!).V;
        if (!Uri.TryCreate(url, UriKind.Absolute, out var uri)) throw new BuiltinException($"{Fn}: invalid url {url}");
        var headers = new SortedDictionary<string, string>(StringComparer.Ordinal);
        if (req.Get("headers") is { } hv)
        {
            if (hv is not ObjectValue ho) throw new BuiltinTypeException($"{Fn}: operand 1 headers must be an object");
            foreach (var (k, v) in ho.Map)
            {
                if (k is not StringValue ks || v is not StringValue vs) throw new BuiltinTypeException($"{Fn}: operand 1 headers must map strings to strings");
                headers[ks.V.ToLowerInvariant()] = vs.V;
            }
        }

        byte[] body = req.Get("raw_body") is StringValue raw ? Encoding.UTF8.GetBytes(raw.V)
            : req.Get("body") is { } b ? Encoding.UTF8.GetBytes(b.ToJson()) : [];
        var payloadHash = disablePayloadSigning ? "UNSIGNED-PAYLOAD" : Convert.ToHexStringLower(SHA256.HashData(body));
        var when = DateTimeOffset.UnixEpoch.AddTicks(timeNs / 100).UtcDateTime;
        var amzDate = when.ToString("yyyyMMdd'T'HHmmss'Z'", CultureInfo.InvariantCulture);
        var day = when.ToString("yyyyMMdd", CultureInfo.InvariantCulture);
        var host = uri.IsDefaultPort ? uri.Host : uri.Host + ":" + uri.Port.ToString(CultureInfo.InvariantCulture);

        headers["host"] = host;
        headers["x-amz-date"] = amzDate;
        headers.TryAdd("x-amz-content-sha256", payloadHash);
        if (token is not null) headers["x-amz-security-token"] = token.V;

        var signedHeaders = string.Join(';', headers.Keys);
        var canonical = new StringBuilder()
            .Append(method).Append('\n')
            .Append(HasPath(url) ? uri.AbsolutePath : "").Append('\n')
            .Append(uri.Query.TrimStart('?')).Append('\n');
        foreach (var (k, v) in headers) canonical.Append(k).Append(':').Append(v.Trim()).Append('\n');
        canonical.Append('\n').Append(signedHeaders).Append('\n').Append(payloadHash);

        var region = ((StringValue)config.Get("aws_region")!).V;
        var service = ((StringValue)config.Get("aws_service")!).V;
        var scope = $"{day}/{region}/{service}/aws4_request";
        var stringToSign = $"AWS4-HMAC-SHA256\n{amzDate}\n{scope}\n{Hex(SHA256.HashData(Encoding.UTF8.GetBytes(canonical.ToString())))}";
        var key = Encoding.UTF8.GetBytes("AWS4" + ((StringValue)config.Get("aws_secret_access_key")!).V);
        foreach (var part in new[] { day, region, service, "aws4_request" }) key = HMACSHA256.HashData(key, Encoding.UTF8.GetBytes(part));
        var signature = Hex(HMACSHA256.HashData(key, Encoding.UTF8.GetBytes(stringToSign)));

        headers["x-amz-content-sha256"] = payloadHash;
        var accessKey = ((StringValue)config.Get("aws_access_key")!).V;
        var outHeaders = headers.ToDictionary(kv => (Value)Value.String(kv.Key), kv => (Value)Value.String(kv.Value));
        outHeaders[Value.String("Authorization")] = Value.String(
            $"AWS4-HMAC-SHA256 Credential={accessKey}/{scope},SignedHeaders={signedHeaders},Signature={signature}");
        var result = new Dictionary<Value, Value>(req.Map) { [Value.String("headers")] = new ObjectValue(outHeaders) };
        return new ObjectValue(result);
    }

    /// <summary>Whether the URL names a path at all: Go's URL.Path is empty for <c>http://host</c>, and OPA signs it so.</summary>
    private static bool HasPath(string url)
    {
        var start = url.IndexOf("://", StringComparison.Ordinal) + 3;
        var end = url.IndexOfAny(['?', '#'], start);
        var authorityAndPath = end < 0 ? url[start..] : url[start..end];
        return authorityAndPath.Contains('/', StringComparison.Ordinal);
    }

    private static string Quoted(IEnumerable<string> keys) => "{" + string.Join(", ", keys.Order(StringComparer.Ordinal).Select(k => $"\"{k}\"")) + "}";

    private static string Hex(byte[] b) => Convert.ToHexStringLower(b);
}
