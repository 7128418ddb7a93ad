using Grpc.Core;
using Sandbox.Api.V1;
using static Sandbox.SandboxApi.Tests.Streams;

namespace Sandbox.SandboxApi.Tests;

/// <summary>process.user (docker's -u) on both tiers against the real agent: numeric ids, names from the sandbox
/// root's /etc/passwd, groups; root inside stays without any capability; the agent's own ids and ids outside the
/// sandbox's range are refused with the reason; the one-shot Run refuses a user.</summary>
[Collection("sandboxd")]
public sealed class ExecUserTests(SharedServer shared)
{
    private Sandboxes.SandboxesClient C => shared.Server.Client;

    private static ProcessStart As(string user, params string[] argv)
    {
        var p = Process(argv);
        p.User = user;
        return p;
    }

    private async Task<RpcException> RefusedAsync(string id, string user)
    {
        var e = await Assert.ThrowsAsync<RpcException>(() => ExecAsync(C, id, As(user, "true")));
        Assert.Equal(StatusCode.InvalidArgument, e.StatusCode);
        return e;
    }

    [Fact]
    public async Task Container_exec_runs_as_the_asked_user_and_root_inside_has_no_capability()
    {
        var sb = await C.CreateSandboxAsync(Trusted());
        try
        {
            Assert.Equal("1000 1000\n", (await ExecAsync(C, sb.Id, Process("sh", "-c", "echo $(id -u) $(id -g)"))).Stdout);
            var root = await ExecAsync(C, sb.Id, As("0", "sh", "-c", "echo $(id -u) $(id -g); grep -E '^Cap(Eff|Prm|Bnd):' /proc/self/status"));
            Assert.Equal("0 0\nCapPrm:\t0000000000000000\nCapEff:\t0000000000000000\nCapBnd:\t0000000000000000\n", root.Stdout);
            // Root inside is an ordinary id without capabilities: it cannot write the workload user's /work (no
            // CAP_DAC_OVERRIDE), and owns what it writes where anyone may (/tmp).
            Assert.NotEqual(0, (await ExecAsync(C, sb.Id, As("root", "sh", "-c", "echo x > /work/by-root"))).Exit!.ExitCode);
            Assert.Equal(0, (await ExecAsync(C, sb.Id, As("root", "sh", "-c", "echo x > /tmp/by-root"))).Exit!.ExitCode);
            Assert.Equal("0\n", (await ExecAsync(C, sb.Id, Process("stat", "-c", "%u", "/tmp/by-root"))).Stdout);
            Assert.Equal("65534 65534\n", (await ExecAsync(C, sb.Id, As("nobody", "sh", "-c", "echo $(id -u) $(id -g)"))).Stdout);
            Assert.Equal("1234 2345\n", (await ExecAsync(C, sb.Id, As("1234:2345", "sh", "-c", "echo $(id -u) $(id -g)"))).Stdout);
            // With a terminal too: the pty belongs to the asked user.
            var tty = As("4321", "sh", "-c", "stat -c %u $(tty)");
            tty.Tty = true;
            Assert.Equal("4321\r\n", (await ExecAsync(C, sb.Id, tty)).Stdout);

            Assert.Contains("outside the sandbox's ids 0..65534", (await RefusedAsync(sb.Id, "65535")).Status.Detail);
            Assert.Contains("/etc/passwd", (await RefusedAsync(sb.Id, "no-such-user")).Status.Detail);
            Assert.Contains("/etc/group", (await RefusedAsync(sb.Id, "0:no-such-group")).Status.Detail);
            Assert.Contains("NAME|UID", (await RefusedAsync(sb.Id, "a:b:c")).Status.Detail);
        }
        finally
        {
            await C.DeleteSandboxAsync(new DeleteSandboxRequest { Id = sb.Id });
        }
    }

    [Fact]
    public async Task Microvm_exec_runs_as_the_asked_user_and_guest_root_keeps_only_its_few_capabilities()
    {
        // A request silent about trust is untrusted: the default policy gives it a microVM (TCG here).
        var sb = await C.CreateSandboxAsync(new CreateSandboxRequest());
        try
        {
            const string show = "echo $(id -u) $(id -g) $(grep CapEff /proc/self/status | cut -f2)";
            Assert.Equal(Tier.Microvm, sb.Tier);
            Assert.Equal("1234 2345 0000000000000000\n", (await ExecAsync(C, sb.Id, As("1234:2345", "sh", "-c", show))).Stdout);
            // Guest root: the VM is the boundary; CHOWN, DAC_OVERRIDE, FOWNER, FSETID, KILL, SETGID, SETUID, SETPCAP,
            // NET_BIND_SERVICE, SYS_CHROOT, AUDIT_WRITE, SETFCAP and nothing else (no SYS_ADMIN, no MKNOD).
            Assert.Equal("0 0 00000000a00405fb\n", (await ExecAsync(C, sb.Id, As("root", "sh", "-c", show))).Stdout);
            Assert.Equal("1000 0 0000000000000000\n", (await ExecAsync(C, sb.Id, As("1000:0", "sh", "-c", show))).Stdout);
            Assert.Contains("outside the sandbox's ids", (await RefusedAsync(sb.Id, "70000")).Status.Detail);
        }
        finally
        {
            await C.DeleteSandboxAsync(new DeleteSandboxRequest { Id = sb.Id });
        }
    }

    [Fact]
    public async Task A_one_shot_run_refuses_a_user()
    {
        var e = await Assert.ThrowsAsync<RpcException>(() => RunAsync(C, As("0", "true")));
        Assert.Equal(StatusCode.Unimplemented, e.StatusCode);
        Assert.Contains("process.user", e.Status.Detail);
    }
}
