using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Sandbox.Isolation.Tests.Images;

/// <summary>Debian's docker-registry on loopback with its own config, storage and port, behind bearer-token auth
/// served by a token endpoint in this process (ES256 JWTs whose x5c certificate is the registry's trusted root), so a
/// pull goes through the real challenge → token → retry dance. Nothing leaves the machine.</summary>
public sealed class LoopbackRegistry : IAsyncLifetime, IDisposable
{
    private const string Service = "sandbox-test-registry";
    private const string Issuer = "sandbox-test-issuer";

    private readonly string _directory = Directory.CreateTempSubdirectory("sandbox-registry-").FullName;
    private readonly ECDsa _key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
    private X509Certificate2? _certificate;
    private Process? _registry;
    private HttpListener? _tokens;
    private Task? _tokenLoop;

    public static string? MissingTool => !File.Exists("/usr/bin/docker-registry") ? "docker-registry is not installed"
        : !File.Exists("/usr/bin/skopeo") ? "skopeo is not installed" : null;

    public string Host { get; private set; } = "";

    /// <summary>Token requests served (the auth path really ran).</summary>
    public int TokensIssued;

    public async Task InitializeAsync()
    {
        if (MissingTool is not null)
            return;
        var registryPort = FreePort();
        var tokenPort = FreePort();
        Host = $"127.0.0.1:{registryPort}";
        _certificate = new CertificateRequest("CN=sandbox test token issuer", _key, HashAlgorithmName.SHA256)
            .CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1));
        var bundle = Path.Combine(_directory, "root.crt");
        await File.WriteAllTextAsync(bundle, _certificate.ExportCertificatePem());
        var config = Path.Combine(_directory, "config.yml");
        await File.WriteAllTextAsync(config, $"""
            version: 0.1
            log:
              level: info
            storage:
              filesystem:
                rootdirectory: {_directory}/data
            http:
              addr: {Host}
              secret: sandbox-test
            auth:
              token:
                realm: http://127.0.0.1:{tokenPort}/token
                service: {Service}
                issuer: {Issuer}
                rootcertbundle: {bundle}
            """);

        _tokens = new HttpListener();
        _tokens.Prefixes.Add($"http://127.0.0.1:{tokenPort}/");
        _tokens.Start();
        _tokenLoop = ServeTokensAsync(_tokens);

        var start = new ProcessStartInfo("/usr/bin/docker-registry", ["serve", config]) { RedirectStandardError = true, RedirectStandardOutput = true };
        _registry = Process.Start(start)!;
        // The registry logs "listening on" once its socket is bound: wait for that line, not for time to pass.
        string? line;
        var seen = new StringBuilder();
        while ((line = await _registry.StandardError.ReadLineAsync()) is not null)
        {
            seen.AppendLine(line);
            if (line.Contains($"listening on {Host}"))
                break;
        }
        if (line is null)
            throw new InvalidOperationException("docker-registry exited before listening:\n" + seen);
        _ = _registry.StandardError.ReadToEndAsync();
        _ = _registry.StandardOutput.ReadToEndAsync();
    }

    /// <summary>Pushes an OCI layout (directory) to NAME:TAG with skopeo; <paramref name="all"/> copies a whole index.</summary>
    public async Task PushAsync(string layout, string reference, bool all = false)
    {
        var args = new List<string> { "copy", "--quiet", "--dest-tls-verify=false" };
        if (all)
            args.Add("--all");
        args.AddRange([$"oci:{layout}", $"docker://{Host}/{reference}"]);
        using var skopeo = Process.Start(new ProcessStartInfo("/usr/bin/skopeo", args) { RedirectStandardError = true, RedirectStandardOutput = true })!;
        var stderr = skopeo.StandardError.ReadToEndAsync();
        await skopeo.StandardOutput.ReadToEndAsync();
        await skopeo.WaitForExitAsync();
        if (skopeo.ExitCode != 0)
            throw new InvalidOperationException($"skopeo copy to {reference} failed ({skopeo.ExitCode}): {await stderr}");
    }

    private async Task ServeTokensAsync(HttpListener listener)
    {
        while (listener.IsListening)
        {
            HttpListenerContext context;
            try
            {
                context = await listener.GetContextAsync();
            }
            catch (Exception e) when (e is HttpListenerException or ObjectDisposedException)
            {
                return;
            }
            var scope = context.Request.QueryString["scope"] ?? "";
            var token = Jwt(scope);
            Interlocked.Increment(ref TokensIssued);
            var body = Encoding.UTF8.GetBytes(JsonSerializer.Serialize(new JsonObject { ["token"] = token, ["access_token"] = token }));
            context.Response.ContentType = "application/json";
            await context.Response.OutputStream.WriteAsync(body);
            context.Response.Close();
        }
    }

    /// <summary>A token granting what the scope asks ("repository:NAME:pull,push"; several scopes space-separated).</summary>
    private string Jwt(string scope)
    {
        var access = new JsonArray();
        foreach (var s in scope.Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            var parts = s.Split(':');
            if (parts.Length >= 3)
                access.Add(new JsonObject
                {
                    ["type"] = parts[0], ["name"] = string.Join(':', parts[1..^1]),
                    ["actions"] = new JsonArray([.. parts[^1].Split(',').Select(a => (JsonNode)a)]),
                });
        }
        var now = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        var header = new JsonObject { ["typ"] = "JWT", ["alg"] = "ES256", ["x5c"] = new JsonArray(Convert.ToBase64String(_certificate!.RawData)) };
        var claims = new JsonObject
        {
            ["iss"] = Issuer, ["sub"] = "test", ["aud"] = Service, ["exp"] = now + 600, ["nbf"] = now - 60, ["iat"] = now,
            ["jti"] = Guid.NewGuid().ToString("N"), ["access"] = access,
        };
        var signingInput = B64(Encoding.UTF8.GetBytes(header.ToJsonString())) + "." + B64(Encoding.UTF8.GetBytes(claims.ToJsonString()));
        var signature = _key.SignData(Encoding.ASCII.GetBytes(signingInput), HashAlgorithmName.SHA256); // IEEE P1363: r || s, as JWS wants
        return signingInput + "." + B64(signature);
    }

    private static string B64(byte[] data) => Convert.ToBase64String(data).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    private static int FreePort() => Sandbox.Tests.Common.LoopbackPort.Free();

    public void Dispose() => ((IDisposable?)_tokens)?.Dispose();

    public async Task DisposeAsync()
    {
        if (_registry is { HasExited: false })
        {
            _registry.Kill();
            await _registry.WaitForExitAsync();
        }
        _registry?.Dispose();
        _tokens?.Close();
        if (_tokenLoop is not null)
            await _tokenLoop;
        _certificate?.Dispose();
        _key.Dispose();
        Directory.Delete(_directory, recursive: true);
    }
}
