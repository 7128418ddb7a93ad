using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging.Abstractions;
using Sandbox.Policy.Opa;
using Sandbox.Policy.Rego;
using Sandbox.PolicyServer;

namespace Sandbox.Policy.Tests;

/// <summary>OpaClient against the embedded engine served over OPA's Data API on loopback.</summary>
public class OpaClientTests
{
    private static async Task<OpaDataApiServer> Serve(CompiledPolicy? policy = null, string? token = null)
    {
        var server = new OpaDataApiServer(policy ?? TestBundles.Default, new OpaServerOptions { Endpoint = new IPEndPoint(IPAddress.Loopback, 0), BearerToken = token, MaxRequestBytes = 1 << 20 });
        await server.StartAsync(CancellationToken.None);
        return server;
    }

    private static OpaClient Client(OpaDataApiServer server, string? token = null, int retries = 0) =>
        new(new OpaClientOptions { ServerUrl = server.BaseAddress, BearerToken = token, MaxRetries = retries, RetryDelay = TimeSpan.FromMilliseconds(1) });

    public static TheoryData<string> Inputs => new()
    {
        "trusted", "untrusted", "unknown-tenant", "egress", "tcg-public", "clamped", "bad-syscall",
    };

    private static PolicyInput InputFor(string name) => name switch
    {
        "trusted" => TestBundles.Input(),
        "untrusted" => TestBundles.Input(untrusted: true, hint: "container"),
        "unknown-tenant" => TestBundles.Input(tenant: "x"),
        "egress" => TestBundles.Input(network: new RequestedNetwork("egress", ["github.com", "a.b"])),
        "tcg-public" => TestBundles.Input(tenant: "public", accel: "tcg"),
        "clamped" => TestBundles.Input(resources: new RequestedResources(99999, 99, 99999, 999999, 999999)),
        _ => TestBundles.Input(syscalls: ["kexec_load"]),
    };

    [Theory]
    [MemberData(nameof(Inputs))]
    public async Task SameBundle_BothPaths_IdenticalDecisions(string name)
    {
        await using var server = await Serve();
        using var client = Client(server);
        var ceilings = new HostCeilings { MemoryMiB = 4096 };
        var embedded = new EmbeddedPolicyEngine(TestBundles.Default, ceilings, NullLogger<EmbeddedPolicyEngine>.Instance);
        var remote = new RemotePolicyEngine(client, ceilings, NullLogger<RemotePolicyEngine>.Instance);
        var input = InputFor(name);
        var a = await embedded.DecideAsync(input, CancellationToken.None);
        var b = await remote.DecideAsync(input, CancellationToken.None);
        Assert.Equal(DecisionDocument.From(a with { DecisionId = "" }).ToJsonString(), DecisionDocument.From(b with { DecisionId = "" }).ToJsonString());
        Assert.Equal("sandbox-default-1", b.BundleRevision);
    }

    [Fact]
    public async Task SdkMethods_Work()
    {
        var policy = RegoBundle.FromFiles([("p.rego", "package app\nallow if input.user == \"admin\"\nn := 3\n")]).Compile();
        await using var server = await Serve(policy);
        using var client = Client(server);
        Assert.True(await client.HealthAsync());
        Assert.True(await client.CheckAsync("app/allow", new JsonObject { ["user"] = "admin" }));
        Assert.False(await client.CheckAsync("app/allow", new JsonObject { ["user"] = "bob" }));
        Assert.Equal(3, await client.EvaluateAsync<int>("app/n", null));
        var details = await client.EvaluateWithDetailsAsync<JsonNode>("app/missing", null);
        Assert.False(details.Defined);
        var ex = await Assert.ThrowsAsync<OpaException>(() => client.EvaluateAsync<JsonNode>("app/missing", null));
        Assert.Equal("undefined_document", ex.Error.Code);
    }

    [Fact]
    public async Task EvaluateDefault_UsesTheConfiguredDecision()
    {
        await using var server = await Serve();
        using var client = Client(server);
        var d = await client.EvaluateDefaultAsync<JsonNode>(TestBundles.Input().ToJson());
        Assert.Equal("container", d!["isolation"]!.GetValue<string>());
    }

    [Fact]
    public async Task EvaluationErrors_AreOpaErrors()
    {
        var policy = RegoBundle.FromFiles([("p.rego", "package app\np := 1\np := 2\n")]).Compile();
        await using var server = await Serve(policy);
        using var client = Client(server);
        var ex = await Assert.ThrowsAsync<OpaException>(() => client.EvaluateAsync<JsonNode>("app/p", null));
        Assert.Equal("internal_error", ex.Error.Code);
        Assert.Equal(500, ex.Error.HttpStatusCode);
        Assert.Equal(RegoErrorCodes.ConflictError, ex.Error.Errors[0].Code);
    }

    [Fact]
    public async Task BearerToken_IsRequiredWhenConfigured()
    {
        await using var server = await Serve(token: "s3cret");
        using var bad = Client(server, token: "nope");
        var ex = await Assert.ThrowsAsync<OpaException>(() => bad.EvaluateAsync<JsonNode>("sandbox/decision", null));
        Assert.Equal("unauthorized", ex.Error.Code);
        using var good = Client(server, token: "s3cret");
        Assert.NotNull(await good.EvaluateAsync<JsonNode>("sandbox/decision", TestBundles.Input().ToJson()));
    }

    [Fact]
    public async Task OversizedBody_Is413_AndRemoteEngineFailsClosed()
    {
        await using var server = await Serve();
        using var client = Client(server);
        var big = new JsonObject { ["blob"] = new string('x', 2 << 20) };
        var ex = await Assert.ThrowsAsync<OpaException>(() => client.EvaluateAsync<JsonNode>("sandbox/decision", big));
        Assert.Equal(413, ex.Error.HttpStatusCode);
    }

    [Fact]
    public async Task Retries503_OnlyWhenEnabled()
    {
        await using var flaky = new FlakyServer(failures: 1);
        using (var noRetry = new OpaClient(new OpaClientOptions { ServerUrl = flaky.BaseAddress }))
        {
            var ex = await Assert.ThrowsAsync<OpaException>(() => noRetry.EvaluateAsync<JsonNode>("x", null));
            Assert.Equal(503, ex.Error.HttpStatusCode);
        }
        Assert.Equal(1, flaky.Requests);
        flaky.Reset(failures: 2);
        using var retrying = new OpaClient(new OpaClientOptions { ServerUrl = flaky.BaseAddress, MaxRetries = 3, RetryDelay = TimeSpan.FromMilliseconds(1) });
        Assert.Equal(42, await retrying.EvaluateAsync<int>("x", null));
        Assert.Equal(3, flaky.Requests);
    }

    [Fact]
    public async Task UnreachableServer_RemoteEngineFailsClosed()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        using var client = new OpaClient(new OpaClientOptions { ServerUrl = new Uri($"http://127.0.0.1:{port}/"), Timeout = TimeSpan.FromSeconds(2) });
        var engine = new RemotePolicyEngine(client, new HostCeilings(), NullLogger<RemotePolicyEngine>.Instance);
        var d = await engine.DecideAsync(TestBundles.Input(), CancellationToken.None);
        Assert.False(d.Allow);
        Assert.Contains(d.Reasons, r => r.Contains("unavailable", StringComparison.Ordinal));
    }

    /// <summary>Answers 503 for the first N requests, then {"result": 42}.</summary>
    private sealed class FlakyServer : IAsyncDisposable
    {
        private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
        private readonly CancellationTokenSource _cts = new();
        private readonly Task _loop;
        private int _failures;
        private int _requests;

        public FlakyServer(int failures)
        {
            _failures = failures;
            _listener.Start();
            _loop = Task.Run(LoopAsync);
        }

        public Uri BaseAddress => new($"http://{_listener.LocalEndpoint}/");
        public int Requests => Volatile.Read(ref _requests);

        public void Reset(int failures)
        {
            Volatile.Write(ref _failures, failures);
            Volatile.Write(ref _requests, 0);
        }

        private async Task LoopAsync()
        {
            while (!_cts.IsCancellationRequested)
            {
                TcpClient c;
                try
                {
                    c = await _listener.AcceptTcpClientAsync(_cts.Token);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
                using (c)
                {
                    var s = c.GetStream();
                    await ReadHeadAsync(s, _cts.Token);
                    var n = Interlocked.Increment(ref _requests);
                    var (status, body) = n <= Volatile.Read(ref _failures) ? ("503 Service Unavailable", "{\"code\":\"unavailable\",\"message\":\"try later\"}") : ("200 OK", "{\"result\":42}");
                    var bytes = Encoding.UTF8.GetBytes($"HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {Encoding.UTF8.GetByteCount(body)}\r\nConnection: close\r\n\r\n{body}");
                    await s.WriteAsync(bytes, _cts.Token);
                }
            }
        }

        /// <summary>Reads up to the end of the request head (the client's requests carry small bodies that fit the socket buffer).</summary>
        private static async Task ReadHeadAsync(NetworkStream s, CancellationToken ct)
        {
            var seen = new List<byte>();
            var buf = new byte[4096];
            while (seen.Count < 65536)
            {
                var n = await s.ReadAsync(buf, ct);
                if (n == 0) return;
                seen.AddRange(buf.AsSpan(0, n));
                if (CollectionsMarshal.AsSpan(seen).IndexOf("\r\n\r\n"u8) >= 0) return;
            }
        }

        public async ValueTask DisposeAsync()
        {
            await _cts.CancelAsync();
            _listener.Stop();
            try
            {
                await _loop;
            }
            catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
            {
            }
            _cts.Dispose();
        }
    }
}
