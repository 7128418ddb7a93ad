using System.Net;
using System.Net.Sockets;
using Sandbox.Api.V1;

namespace Sandbox.SandboxApi.Tests;

/// <summary>The OpenTelemetry Prometheus endpoint: per-call counts by method, code and tenant, and runtime metrics.</summary>
public sealed class ObservabilityTests
{
    private static int FreePort() => Sandbox.Tests.Common.LoopbackPort.Free();

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

    [Fact]
    public async Task Each_sandbox_has_usage_series_with_its_tenant_until_it_is_deleted()
    {
        var root = SandboxdServer.NewRoot();
        var port = FreePort();
        var yaml = SandboxdServer.Yaml(root).Replace("  unix_mode: \"0660\"", $"  unix_mode: \"0660\"\n  metrics: 127.0.0.1:{port}");
        await using var server = await SandboxdServer.StartAsync(yaml, root);
        using var http = new HttpClient();
        var sb = await server.Client.CreateSandboxAsync(Streams.Trusted(), SandboxdServer.As("ci"));
        // Some CPU time and memory: a busy loop that keeps 8 MiB in a tmpfs file.
        var busy = Streams.Process("sh", "-c", "head -c 8388608 /dev/zero > /tmp/ballast; i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done");
        Assert.Equal(0, (await Streams.ExecAsync(server.Client, sb.Id, busy, options: SandboxdServer.As("ci"))).Exit!.ExitCode);

        var labels = $"sandbox_id=\"{sb.Id}\",tenant=\"ci\",tier=\"container\"";
        var text = await http.GetStringAsync($"http://127.0.0.1:{port}/metrics/otel");
        var cpu = Value(text, "sandboxd_sandbox_cpu_time_seconds_total", labels);
        Assert.True(cpu > 0, $"cpu {cpu}\n{text}");
        Assert.True(Value(text, "sandboxd_sandbox_memory_usage_bytes", labels) >= 8 << 20, text);
        Assert.True(Value(text, "sandboxd_sandbox_memory_peak_bytes", labels) >= 8 << 20, text);
        Assert.True(Value(text, "sandboxd_sandbox_tasks", labels) >= 1, text);
        Assert.Equal(0, Value(text, "sandboxd_sandbox_oom_kills_total", labels));

        await server.Client.DeleteSandboxAsync(new DeleteSandboxRequest { Id = sb.Id }, SandboxdServer.As("ci"));
        // The next scrape has no series of the deleted sandbox: the label set is bounded by the live sandboxes.
        var after = await http.GetStringAsync($"http://127.0.0.1:{port}/metrics/otel");
        Assert.DoesNotContain(sb.Id, after);
        Assert.Contains("sandboxd_rpc_calls_total", after);
    }

    /// <summary>The value of the series <paramref name="name"/> whose labels include <paramref name="labels"/>.</summary>
    private static double Value(string text, string name, string labels)
    {
        foreach (var line in text.Split('\n'))
        {
            if (line.StartsWith(name + "{", StringComparison.Ordinal) && line.Contains(labels, StringComparison.Ordinal))
                return double.Parse(line[(line.LastIndexOf(' ') + 1)..], System.Globalization.CultureInfo.InvariantCulture);
        }
        throw new Xunit.Sdk.XunitException($"no series {name}{{{labels}}} in:\n{text}");
    }
}
