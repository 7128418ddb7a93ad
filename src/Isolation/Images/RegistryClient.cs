using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Sandbox.Isolation.Images;

/// <summary>The OCI distribution API, read side: manifests (by tag or digest) and blobs, with anonymous bearer-token
/// auth (a 401 with <c>WWW-Authenticate: Bearer realm=…,service=…,scope=…</c> is answered by fetching a token from the
/// realm and retrying once). Nothing a registry sends is trusted: documents are bounded and their digests checked.</summary>
internal sealed class RegistryClient : IDisposable
{
    private static readonly string[] s_manifestTypes =
        [OciMediaTypes.OciIndex, OciMediaTypes.OciManifest, OciMediaTypes.DockerManifestList, OciMediaTypes.DockerManifest];

    private readonly HttpClient _http;
    private readonly RegistryReference _reference;
    private readonly ImageLimits _limits;
    private string? _token;

    public RegistryClient(RegistryReference reference, ImageLimits limits, HttpMessageHandler? handler)
    {
        _reference = reference;
        _limits = limits;
        _http = handler is null ? new HttpClient() : new HttpClient(handler, disposeHandler: false);
        _http.BaseAddress = reference.BaseUri;
        _http.Timeout = TimeSpan.FromMinutes(30);
    }

    public string Description => $"registry {_reference}";

    /// <summary>A manifest or index, its media type and digest (checked against the reference's digest when it has
    /// one, and against the registry's Docker-Content-Digest header when it sends one).</summary>
    public async Task<(byte[] Content, string? MediaType, ImageDigest Digest)> GetManifestAsync(string reference, CancellationToken cancellationToken)
    {
        using var response = await SendAsync(() =>
        {
            var request = new HttpRequestMessage(HttpMethod.Get, $"v2/{_reference.Repository}/manifests/{reference}");
            foreach (var type in s_manifestTypes)
                request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue(type));
            return request;
        }, $"manifest {reference}", cancellationToken).ConfigureAwait(false);
        var declared = response.Content.Headers.ContentLength ?? -1;
        if (declared > _limits.MaxDocumentBytes)
            throw new SandboxException(SandboxErrorCode.ResourceExhausted, $"{Description}: manifest {reference} is {declared} bytes; at most {_limits.MaxDocumentBytes} are accepted");
        await using var stream = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
        using var bounded = new BoundedStream(stream, _limits.MaxDocumentBytes, l => $"{Description}: manifest {reference} is larger than {l} bytes");
        using var buffer = new MemoryStream();
        await bounded.CopyToAsync(buffer, cancellationToken).ConfigureAwait(false);
        var digest = bounded.Digest();
        if (ImageDigest.TryParse(reference, out var wanted) && wanted != digest)
            throw new SandboxException(SandboxErrorCode.InvalidArgument, $"{Description}: manifest {reference} has digest {digest}");
        if (response.Headers.TryGetValues("Docker-Content-Digest", out var values) && values.FirstOrDefault() is { } header
            && header.StartsWith("sha256:", StringComparison.Ordinal) && header != digest.ToString())
            throw new SandboxException(SandboxErrorCode.InvalidArgument, $"{Description}: manifest {reference} has digest {digest}, the registry says {header}");
        return (buffer.ToArray(), response.Content.Headers.ContentType?.MediaType, digest);
    }

    /// <summary>A blob's bytes as a stream (redirects to blob storage followed); the caller checks digest and size.</summary>
    public async Task<Stream> OpenBlobAsync(ImageDigest digest, CancellationToken cancellationToken)
    {
        var response = await SendAsync(() => new HttpRequestMessage(HttpMethod.Get, $"v2/{_reference.Repository}/blobs/{digest}"),
            $"blob {digest}", cancellationToken).ConfigureAwait(false);
        return new ResponseStream(response, await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false));
    }

    private async Task<HttpResponseMessage> SendAsync(Func<HttpRequestMessage> make, string what, CancellationToken cancellationToken)
    {
        for (var attempt = 0; ; attempt++)
        {
            using var request = make();
            if (_token is not null)
                request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", _token);
            HttpResponseMessage response;
            try
            {
                response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken).ConfigureAwait(false);
            }
            catch (HttpRequestException e)
            {
                throw new SandboxException(SandboxErrorCode.Unavailable, $"{Description}: {what}: {e.Message}", e);
            }
            if (response.StatusCode == HttpStatusCode.Unauthorized && attempt == 0
                && response.Headers.WwwAuthenticate.FirstOrDefault(h => h.Scheme.Equals("Bearer", StringComparison.OrdinalIgnoreCase)) is { } challenge)
            {
                response.Dispose();
                _token = await FetchTokenAsync(challenge.Parameter ?? "", cancellationToken).ConfigureAwait(false);
                continue;
            }
            if (response.IsSuccessStatusCode)
                return response;
            var code = response.StatusCode;
            response.Dispose();
            throw new SandboxException(code switch
            {
                HttpStatusCode.NotFound => SandboxErrorCode.NotFound,
                HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden => SandboxErrorCode.PermissionDenied,
                _ => SandboxErrorCode.Unavailable,
            }, $"{Description}: {what}: HTTP {(int)code} {code}");
        }
    }

    /// <summary>The token of a Bearer challenge: GET realm?service=…&amp;scope=… (anonymous).</summary>
    private async Task<string> FetchTokenAsync(string challenge, CancellationToken cancellationToken)
    {
        var parameters = ParseChallenge(challenge);
        if (!parameters.TryGetValue("realm", out var realm) || !Uri.TryCreate(realm, UriKind.Absolute, out var realmUri) || realmUri.Scheme is not ("http" or "https"))
            throw new SandboxException(SandboxErrorCode.PermissionDenied, $"{Description}: the registry asks for a bearer token without a usable realm ('{challenge}')");
        var query = string.Join('&', new[] { "service", "scope" }.Where(parameters.ContainsKey)
            .Select(k => $"{k}={Uri.EscapeDataString(parameters[k])}"));
        var uri = new UriBuilder(realmUri) { Query = query }.Uri;
        using var response = await _http.GetAsync(uri, cancellationToken).ConfigureAwait(false);
        if (!response.IsSuccessStatusCode)
            throw new SandboxException(SandboxErrorCode.PermissionDenied, $"{Description}: the token service {realmUri.GetLeftPart(UriPartial.Path)} answered HTTP {(int)response.StatusCode}");
        var body = await response.Content.ReadAsByteArrayAsync(cancellationToken).ConfigureAwait(false);
        var token = body.Length <= _limits.MaxDocumentBytes ? JsonSerializer.Deserialize(body, RegistryJson.Default.TokenResponse) : null;
        return token?.Token ?? token?.AccessToken
            ?? throw new SandboxException(SandboxErrorCode.PermissionDenied, $"{Description}: the token service's answer has no token");
    }

    /// <summary>key="value" pairs of an auth challenge (values may hold commas inside quotes).</summary>
    internal static Dictionary<string, string> ParseChallenge(string challenge)
    {
        var result = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        var i = 0;
        while (i < challenge.Length)
        {
            while (i < challenge.Length && challenge[i] is ' ' or ',')
                i++;
            var eq = challenge.IndexOf('=', i);
            if (eq < 0)
                break;
            var key = challenge[i..eq].Trim();
            i = eq + 1;
            string value;
            if (i < challenge.Length && challenge[i] == '"')
            {
                var end = challenge.IndexOf('"', i + 1);
                if (end < 0)
                    end = challenge.Length;
                value = challenge[(i + 1)..end];
                i = end + 1;
            }
            else
            {
                var end = challenge.IndexOf(',', i);
                if (end < 0)
                    end = challenge.Length;
                value = challenge[i..end].Trim();
                i = end;
            }
            result[key] = value;
        }
        return result;
    }

    public void Dispose() => _http.Dispose();

    /// <summary>A response body that disposes its response with it.</summary>
    private sealed class ResponseStream(HttpResponseMessage response, Stream inner) : Stream
    {
        public override int Read(byte[] buffer, int offset, int count) => inner.Read(buffer, offset, count);
        public override int Read(Span<byte> buffer) => inner.Read(buffer);
        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) => inner.ReadAsync(buffer, cancellationToken);
        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) => inner.ReadAsync(buffer, offset, count, cancellationToken);
        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                inner.Dispose();
                response.Dispose();
            }
            base.Dispose(disposing);
        }
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}

internal sealed record TokenResponse
{
    [JsonPropertyName("token")] public string? Token { get; init; }
    [JsonPropertyName("access_token")] public string? AccessToken { get; init; }
}

[JsonSerializable(typeof(TokenResponse))]
internal sealed partial class RegistryJson : JsonSerializerContext;
