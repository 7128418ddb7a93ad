using System.Net;
using System.Net.Sockets;
using Sandbox.Api.V1;

namespace Sandbox.SandboxApi.Tests;

/// <summary>The OpenTelemetry Prometheus endpoint: per-call counts by method, code and tenant, and runtime metrics.</summary>
public sealed class ObservabilityTests
{
    private static int FreePort()
    {
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }

    [Fact]
    public async Task Calls_are_counted_by_method_code_and_tenant()
    {
        var root = SandboxdServer.NewRoot();
        var port = FreePort();
        var yaml = SandboxdServer.Yaml(root).Replace("  unix_mode: \"0660\"", $"  unix_mode: \"0660\"\n  metrics: 127.0.0.1:{port}");
        await using var server = await SandboxdServer.StartAsync(yaml, root);
        await Assert.ThrowsAsync<Grpc.Core.RpcException>(() => server.Client.GetSandboxAsync(new GetSandboxRequest { Id = "sb-none" }).ResponseAsync);
        using var http = new HttpClient();
        var text = await http.GetStringAsync($"http://127.0.0.1:{port}/metrics/otel");
        Assert.Matches("sandboxd_rpc_calls_total\\{[^}]*rpc_grpc_status_code=\"NotFound\",rpc_method=\"/sandbox.v1.Sandboxes/GetSandbox\",tenant=\"acme\"\\} 1", text);
        Assert.Contains("sandboxd_rpc_duration_seconds_bucket", text);
        Assert.Contains("dotnet_gc_collections_total", text);
        Assert.Contains("sandboxd_ttl_reaped_total", await http.GetStringAsync($"http://127.0.0.1:{port}/metrics"));
    }
}
