using Grpc.Core;
using Sandbox.Api.V1;
using static Sandbox.SandboxApi.Tests.Streams;

namespace Sandbox.SandboxApi.Tests;

/// <summary>Issue 9 items 5 and 6: what the workload (or its caller) can learn of the host's layout.</summary>
[Collection("sandboxd")]
public sealed class HostLayoutTests(SharedServer shared)
{
    private Sandboxes.SandboxesClient C => shared.Server.Client;

    [Fact]
    public async Task OneShot_ExecutableLookup_AnswersAsTheSandboxSees_NotAsTheHost()
    {
        Assert.True(File.Exists("/etc/shadow"), "the host has /etc/shadow (the file this test must not learn about)");
        var shadow = await Assert.ThrowsAsync<RpcException>(() => RunAsync(C, Process("/etc/shadow")));
        var missing = await Assert.ThrowsAsync<RpcException>(() => RunAsync(C, Process("/etc/no-such-file")));
        Assert.Equal(StatusCode.NotFound, missing.StatusCode);
        Assert.Equal(missing.StatusCode, shadow.StatusCode);
        Assert.Equal(missing.Status.Detail.Replace("no-such-file", "X"), shadow.Status.Detail.Replace("shadow", "X"));
        // Inside, both are equally absent.
        var seen = await RunAsync(C, Process("/bin/sh", "-c", "ls /etc/shadow /etc/no-such-file 2>&1 | sed 's/shadow/X/; s/no-such-file/X/'"));
        var lines = seen.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(2, lines.Length);
        Assert.Equal(lines[0], lines[1]);
    }

    /// <summary>Every process's command line as the workload reads it (ps does the same), one per line.</summary>
    private const string ReadCmdlines = "for f in /proc/[0-9]*/cmdline; do tr '\\0' ' ' < $f; echo; done";

    [Fact]
    public async Task Workload_SeesNoHostLayout_InAnyCommandLine()
    {
        var agentDir = Environment.GetEnvironmentVariable("SANDBOX_AGENT_DIR");
        var hostLayout = new[] { "/var/cache/sandbox", "guest-etc", "--ro-bind", "--seccomp", shared.Server.Root }
            .Concat(agentDir is { Length: > 0 } ? [agentDir] : []).ToArray();

        // One-shot: bwrap's reaper is PID 1 of the sandbox.
        var oneShot = await RunAsync(C, Process("/bin/sh", "-c", ReadCmdlines));
        Assert.Equal(0, oneShot.Exit!.ExitCode);
        Assert.Contains("bwrap --args", oneShot.Stdout);
        foreach (var leak in hostLayout)
            Assert.DoesNotContain(leak, oneShot.Stdout);
        // bwrap closed its --args descriptor: nothing beyond stdio reaches the workload.
        Assert.Equal("0\n1\n2\n3\n", (await RunAsync(C, Process("ls", "/proc/self/fd"))).Stdout);

        // Long-lived: the agent is PID 1; a process it starts sees the same.
        var sb = await C.CreateSandboxAsync(Trusted());
        try
        {
            var inside = await ExecAsync(C, sb.Id, Process("/bin/sh", "-c", ReadCmdlines));
            Assert.Equal(0, inside.Exit!.ExitCode);
            Assert.Contains("sandbox-agent", inside.Stdout);
            foreach (var leak in hostLayout)
                Assert.DoesNotContain(leak, inside.Stdout);
        }
        finally
        {
            await C.DeleteSandboxAsync(new DeleteSandboxRequest { Id = sb.Id });
        }
    }
}
