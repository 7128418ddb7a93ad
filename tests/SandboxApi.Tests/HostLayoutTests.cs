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
}
