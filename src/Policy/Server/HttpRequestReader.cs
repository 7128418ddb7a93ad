using System.Text;

namespace Sandbox.Policy.Server;

/// <summary>One parsed HTTP/1.1 request, or the error response to send instead.</summary>
internal sealed class HttpRequest
{
    public string Method { get; init; } = "";
    public string Path { get; init; } = "";
    public string Query { get; init; } = "";
    public Dictionary<string, string> Headers { get; } = new(StringComparer.OrdinalIgnoreCase);
    public byte[] Body { get; set; } = [];
    public HttpResponse? Error { get; init; }

    public string? QueryParam(string name)
    {
        foreach (var part in Query.Split('&', StringSplitOptions.RemoveEmptyEntries))
        {
            var eq = part.IndexOf('=');
            var key = Uri.UnescapeDataString(eq < 0 ? part : part[..eq]);
            if (key == name) return eq < 0 ? "" : Uri.UnescapeDataString(part[(eq + 1)..].Replace('+', ' '));
        }
        return null;
    }
}

/// <summary>Reads a request head and a Content-Length body within the given bounds (no chunked bodies).</summary>
internal static class HttpRequestReader
{
    public static async Task<HttpRequest> ReadAsync(Stream stream, int maxHeader, int maxBody, CancellationToken ct)
    {
        var buffer = new byte[8192];
        var head = new MemoryStream();
        var filled = 0;
        int headEnd;
        while (true)
        {
            var n = await stream.ReadAsync(buffer.AsMemory(filled, buffer.Length - filled), ct).ConfigureAwait(false);
            if (n == 0) return Fail(400, "invalid_parameter", "connection closed before the request head ended");
            filled += n;
            headEnd = IndexOfHeadEnd(buffer.AsSpan(0, filled));
            if (headEnd >= 0) break;
            if (filled > maxHeader) return Fail(431, "invalid_parameter", $"request head larger than {maxHeader} bytes");
            if (filled == buffer.Length) Array.Resize(ref buffer, Math.Min(buffer.Length * 2, maxHeader + 8192));
        }
        var lines = Encoding.ASCII.GetString(buffer, 0, headEnd).Split("\r\n");
        var first = lines[0].Split(' ');
        if (first.Length != 3 || !first[2].StartsWith("HTTP/1.", StringComparison.Ordinal)) return Fail(400, "invalid_parameter", $"malformed request line '{lines[0]}'");
        var target = first[1];
        var q = target.IndexOf('?');
        var request = new HttpRequest { Method = first[0], Path = q < 0 ? target : target[..q], Query = q < 0 ? "" : target[(q + 1)..] };
        foreach (var line in lines.Skip(1))
        {
            var colon = line.IndexOf(':');
            if (colon > 0) request.Headers[line[..colon].Trim()] = line[(colon + 1)..].Trim();
        }
        if (request.Headers.ContainsKey("Transfer-Encoding")) return Fail(400, "invalid_parameter", "chunked request bodies are not supported; send Content-Length");
        var length = 0L;
        if (request.Headers.TryGetValue("Content-Length", out var cl) && (!long.TryParse(cl, out length) || length < 0))
            return Fail(400, "invalid_parameter", $"invalid Content-Length '{cl}'");
        if (length > maxBody) return Fail(413, "invalid_parameter", $"request body of {length} bytes is larger than the limit of {maxBody} bytes");
        var body = new byte[length];
        var already = Math.Min(filled - (headEnd + 4), (int)length);
        Array.Copy(buffer, headEnd + 4, body, 0, already);
        var read = already;
        while (read < length)
        {
            var n = await stream.ReadAsync(body.AsMemory(read), ct).ConfigureAwait(false);
            if (n == 0) return Fail(400, "invalid_parameter", "connection closed before the request body ended");
            read += n;
        }
        request.Body = body;
        return request;
    }

    private static int IndexOfHeadEnd(ReadOnlySpan<byte> data) => data.IndexOf("\r\n\r\n"u8);

    private static HttpRequest Fail(int status, string code, string message) =>
        new() { Error = new HttpResponse(status, OpaDataApiServer.ErrorBody(code, message, [])) };
}
