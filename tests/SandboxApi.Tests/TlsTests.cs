using System.Security.Cryptography;
using System.Text;
using Grpc.Core;
using Sandbox.Api.V1;

namespace Sandbox.SandboxApi.Tests;

/// <summary>The TCP listener with TLS: client certificates chaining to listen.tls_client_ca name the tenant by their
/// subject CN; anything else gets no connection or no tenant. Certificates are made by the test.</summary>
[Collection("sandboxd")]
public sealed class TlsTests
{
    private static string Endpoint(int port) => $"127.0.0.1:{port}";

    /// <summary>Every call here carries a deadline: a TLS exchange that neither completes nor fails (a refused client
    /// certificate the client never hears about) must fail this test by name, not hang the suite.</summary>
    private static CallOptions Within(Metadata? headers = null) => new(headers, DateTime.UtcNow.AddSeconds(60));

    [Fact]
    public async Task ClientCertificate_NamesTheTenant_OthersAreRefused()
    {
        var root = SandboxdServer.NewRoot();
        using var certs = new TestCertificates(root);
        var port = TestCertificates.FreePort();
        var listen = $"  tcp: {Endpoint(port)}\n  tls_certificate: {certs.ServerCertFile}\n  tls_key: {certs.ServerKeyFile}\n  tls_client_ca: {certs.CaFile}";
        // Tenants the default policy knows (its data lists them); "acme" also owns uid 0 on the unix socket.
        await using var server = await SandboxdServer.StartAsync(SandboxdServer.Yaml(root, listen: listen), root);

        using (var a = certs.Channel(Endpoint(port), certs.Client("acme")))
        using (var b = certs.Channel(Endpoint(port), certs.Client("ci")))
        {
            var clientA = new Sandboxes.SandboxesClient(a);
            var clientB = new Sandboxes.SandboxesClient(b);
            var sb = await clientA.CreateSandboxAsync(Streams.Trusted(), Within());
            Assert.Equal("acme", sb.Tenant);
            Assert.Single((await clientA.ListSandboxesAsync(new ListSandboxesRequest(), Within())).Sandboxes);
            // The other tenant's certificate sees nothing of it.
            Assert.Empty((await clientB.ListSandboxesAsync(new ListSandboxesRequest(), Within())).Sandboxes);
            var notFound = await Assert.ThrowsAsync<RpcException>(() => clientB.GetSandboxAsync(new GetSandboxRequest { Id = sb.Id }, Within()).ResponseAsync);
            Assert.Equal(StatusCode.NotFound, notFound.StatusCode);
            await clientA.DeleteSandboxAsync(new DeleteSandboxRequest { Id = sb.Id }, Within());
        }

        // A valid certificate for a tenant that is not configured: connected, but no tenant.
        using (var stranger = certs.Channel(Endpoint(port), certs.Client("stranger")))
        {
            var e = await Assert.ThrowsAsync<RpcException>(() => new Sandboxes.SandboxesClient(stranger).ListSandboxesAsync(new ListSandboxesRequest(), Within()).ResponseAsync);
            Assert.Equal(StatusCode.Unauthenticated, e.StatusCode);
        }

        // No certificate, one from another CA, and one of ours that is not for client authentication: no connection.
        var other = certs.OtherCa();
        foreach (var (what, cert) in new[] { ("none", null), ("other CA", certs.Client("acme", issuer: other)), ("server-auth only", certs.Client("acme", usage: "1.3.6.1.5.5.7.3.1")) })
        {
            using var channel = certs.Channel(Endpoint(port), cert);
            var e = await Assert.ThrowsAsync<RpcException>(() => new Sandboxes.SandboxesClient(channel).ListSandboxesAsync(new ListSandboxesRequest(), Within()).ResponseAsync);
            // TLS 1.3 refuses a client certificate after the client thinks the handshake is done, so the client reports
            // either a failed connection (UNAVAILABLE) or a connection that died before HTTP/2 began (INTERNAL).
            Assert.True(e.StatusCode is StatusCode.Unavailable or StatusCode.Internal && e.Status.DebugException is not null,
                $"{what}: expected the connection to be refused, got {e.StatusCode}: {e.Status.Detail}");
        }
    }

    [Fact]
    public async Task BearerToken_OverTls_WithoutClientCa()
    {
        var root = SandboxdServer.NewRoot();
        using var certs = new TestCertificates(root);
        var port = TestCertificates.FreePort();
        var token = "tok-" + Convert.ToHexString(RandomNumberGenerator.GetBytes(16));
        var digest = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(token)));
        var listen = $"  tcp: {Endpoint(port)}\n  tls_certificate: {certs.ServerCertFile}\n  tls_key: {certs.ServerKeyFile}";
        var tenants = $"  - name: tok\n    token_sha256: [\"{digest}\"]";
        await using var server = await SandboxdServer.StartAsync(SandboxdServer.Yaml(root, extraTenants: tenants, listen: listen), root);

        using var channel = certs.Channel(Endpoint(port), client: null);
        var client = new Sandboxes.SandboxesClient(channel);
        var ok = await client.ListSandboxesAsync(new ListSandboxesRequest(), Within(new Metadata { { "authorization", "Bearer " + token } }));
        Assert.Empty(ok.Sandboxes);
        foreach (var wrong in new[] { token + "x", token[..^1], "", "Bearer" })
        {
            var e = await Assert.ThrowsAsync<RpcException>(() =>
                client.ListSandboxesAsync(new ListSandboxesRequest(), Within(new Metadata { { "authorization", "Bearer " + wrong } })).ResponseAsync);
            Assert.Equal(StatusCode.Unauthenticated, e.StatusCode);
        }
    }

    [Fact]
    public void ClientCa_WithoutTcp_IsAConfigError()
    {
        var root = SandboxdServer.NewRoot();
        try
        {
            using var certs = new TestCertificates(root);
            var e = Assert.Throws<Configuration.ConfigException>(() =>
                Configuration.ConfigLoader.Parse(SandboxdServer.Yaml(root, listen: $"  tls_client_ca: {certs.CaFile}")));
            Assert.Contains("listen.tls_client_ca: only applies to the TCP listener", e.Message);
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }
}
