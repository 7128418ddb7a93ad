using Sandbox.Isolation;
using Sandbox.Isolation.Container;

namespace Sandbox.E2E;

/// <summary>The container tier's user namespace: every id inside maps to the sandbox's own range of unprivileged host
/// uids (written by the host, never host uid 0), bwrap runs as the namespace's owner (the command's own host uid: the
/// agent's in a long-lived sandbox), the agent has a range uid of its own and the workload another. Checked from the host, in /proc/PID/status.</summary>
public sealed class UidRangeTests
{
    private static readonly TimeSpan s_hangGuard = TimeSpan.FromSeconds(120);

    public static TheoryData<ExecutionMode> ContainerModes => [ExecutionMode.OneShot, ExecutionMode.Agent];

    [Fact]
    public async Task Agent_and_workload_have_range_uids_of_their_own_and_nothing_is_host_root()
    {
        using var guard = new CancellationTokenSource(s_hangGuard);
        await using var sandbox = await Harness.Driver.CreateAsync(new SandboxSpec(), guard.Token);
        var p = await sandbox.ExecAsync(new ProcessSpec { Argv = ["sleep", "60"] }, ProcessIO.Discard, guard.Token);
        var range = sandbox.Info.HostUidRange!.Value;
        Assert.Equal(65_536, range.Size);

        var workload = Ids(await SandboxTests.FindHostPidAsync(sandbox.Info.CgroupPath!, "sleep"));
        var agent = Ids(await SandboxTests.FindHostPidAsync(sandbox.Info.CgroupPath!, "sandbox-agent"));
        var bwrap = Ids(await SandboxTests.FindHostPidAsync(sandbox.Info.CgroupPath!, "bwrap"));
        Assert.All(workload.Uid.Concat(workload.Gid), id => Assert.Equal(range.HostBase + 1000, id));
        Assert.All(agent.Uid.Concat(agent.Gid), id => Assert.Equal(range.HostBase + ContainerLauncher.AgentId, id));
        // bwrap (outside, the namespace's owner) runs as the agent's host uid: never root.
        Assert.All(bwrap.Uid, id => Assert.Equal(range.HostBase + ContainerLauncher.AgentId, id));
        // No process of the sandbox has host uid or gid 0.
        foreach (var pid in CgroupTree.Procs(sandbox.Info.CgroupPath!))
        {
            if (TryIds(pid) is { } ids)
                Assert.All(ids.Uid.Concat(ids.Gid), id => Assert.NotEqual(0, id));
        }
        await p.SignalAsync(9, guard.Token);
        await p.WaitAsync(guard.Token);
    }

    [Theory, MemberData(nameof(ContainerModes))]
    public async Task Root_inside_is_the_range_base_with_no_capability_no_new_privileges_and_seccomp(ExecutionMode mode)
    {
        using var guard = new CancellationTokenSource(s_hangGuard);
        var spec = new SandboxSpec { User = SandboxUser.Root };
        var r = await Harness.RunAsync(mode, Harness.Sh("""
            id -u; id -g
            grep -E '^(CapEff|CapPrm|CapBnd|CapAmb|NoNewPrivs|Seccomp):' /proc/self/status | tr -d '\t'
            touch "$PWD/mine" && stat -c 'owner %u:%g' "$PWD/mine"
            unshare -U true 2>/dev/null && echo nested || echo no-nested
            cat /proc/self/uid_map | tr -s ' '
            """), spec, cancellationToken: guard.Token);
        Assert.True(r.Status.ExitCode == 0, $"exit {r.Status.ExitCode}: {r.Stderr}");
        var lines = r.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("0", lines[0]);
        Assert.Equal("0", lines[1]);
        foreach (var cap in new[] { "CapEff", "CapPrm", "CapBnd", "CapAmb" })
            Assert.Contains($"{cap}:0000000000000000", lines);
        Assert.Contains("NoNewPrivs:1", lines);
        Assert.Contains("Seccomp:2", lines);
        Assert.Contains("owner 0:0", lines);
        Assert.Contains("no-nested", lines);
        // One range line: inside 0..65535 onto an unprivileged host base.
        var map = lines.Single(l => l.TrimStart().StartsWith("0 ", StringComparison.Ordinal)).Trim().Split(' ');
        Assert.Equal("65536", map[2]);
        Assert.True(long.Parse(map[1]) >= 100_000, $"uid 0 inside maps to host uid {map[1]}");
    }

    [Fact]
    public async Task Root_inside_is_an_unprivileged_host_uid_seen_from_the_host_and_cannot_touch_the_agent()
    {
        using var guard = new CancellationTokenSource(s_hangGuard);
        await using var sandbox = await Harness.Driver.CreateAsync(new SandboxSpec { User = SandboxUser.Root }, guard.Token);
        var range = sandbox.Info.HostUidRange!.Value;
        Assert.Equal(range.HostBase, sandbox.Info.HostUid);
        var p = await sandbox.ExecAsync(new ProcessSpec { Argv = ["sleep", "60"] }, ProcessIO.Discard, guard.Token);
        var pid = await SandboxTests.FindHostPidAsync(sandbox.Info.CgroupPath!, "sleep");
        var ids = Ids(pid);
        Assert.All(ids.Uid.Concat(ids.Gid), id => Assert.Equal(range.HostBase, id));
        var status = File.ReadAllLines($"/proc/{pid}/status").ToDictionary(l => l.Split(':')[0], l => l.Split(':', 2)[1].Trim());
        Assert.Equal("0000000000000000", status["CapEff"]);
        Assert.Equal("0000000000000000", status["CapBnd"]);

        // Root of the namespace without capabilities: the agent (another uid) is out of its reach.
        var stdout = new MemoryStream();
        var attack = await sandbox.ExecAsync(Harness.Sh("""
            kill -STOP 1 2>/dev/null && echo stopped || echo stop-denied
            kill -KILL 1 2>/dev/null && echo killed || echo kill-denied
            prlimit --pid 1 --nofile=1:1 2>/dev/null && echo limited || echo prlimit-denied
            cat /proc/1/environ >/dev/null 2>&1 && echo environ || echo environ-denied
            ls /proc/1/fd/ >/dev/null 2>&1 && ls -l /proc/1/fd/ 2>/dev/null | grep -q -- '->' && echo fd-links || echo fd-links-denied
            """), new ProcessIO { Stdout = stdout }, guard.Token);
        Assert.Equal(0, (await attack.WaitAsync(guard.Token)).ExitCode);
        var lines = System.Text.Encoding.UTF8.GetString(stdout.ToArray()).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(["stop-denied", "kill-denied", "prlimit-denied", "environ-denied", "fd-links-denied"], lines);
        await p.SignalAsync(9, guard.Token);
        await p.WaitAsync(guard.Token);
    }

    [Fact]
    public async Task Nested_user_namespaces_are_allowed_only_when_the_spec_says_so()
    {
        using var guard = new CancellationTokenSource(s_hangGuard);
        // seccomp lets unshare through here, so what decides is the namespace's own limit (user.max_user_namespaces,
        // 0 unless the spec allows nesting): bwrap's --disable-userns, done by the host.
        var script = Harness.Sh("unshare -U true && echo nested || echo no-nested");
        var spec = new SandboxSpec { ExtraSyscalls = ["unshare"] };
        var denied = await Harness.RunAsync(ExecutionMode.OneShot, script, spec, cancellationToken: guard.Token);
        Assert.EndsWith("no-nested\n", denied.Stdout);
        var allowed = await Harness.RunAsync(ExecutionMode.OneShot, script, spec with { AllowNestedUserNamespaces = true }, cancellationToken: guard.Token);
        Assert.Equal("nested\n", allowed.Stdout);
    }

    [Fact]
    public async Task A_user_outside_the_namespace_is_refused_naming_it()
    {
        var e = await Assert.ThrowsAsync<SpecValidationException>(() =>
            Harness.Driver.CreateAsync(new SandboxSpec { User = new SandboxUser(65_535, 0) }, CancellationToken.None));
        Assert.Contains("65535:0", e.Message);
        Assert.Contains("65534", e.Message);
    }

    private sealed record ProcIds(long[] Uid, long[] Gid);

    private static ProcIds Ids(int pid) => TryIds(pid) ?? throw new InvalidOperationException($"process {pid} is gone");

    private static ProcIds? TryIds(int pid)
    {
        try
        {
            var status = File.ReadAllLines($"/proc/{pid}/status").ToDictionary(l => l.Split(':')[0], l => l.Split(':', 2)[1].Trim());
            static long[] Parse(string v) => v.Split('\t', StringSplitOptions.RemoveEmptyEntries).Select(long.Parse).ToArray();
            return new ProcIds(Parse(status["Uid"]), Parse(status["Gid"]));
        }
        catch (IOException)
        {
            return null;
        }
    }
}
