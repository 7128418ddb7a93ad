using System.Text;
using Sandbox.Isolation;
using Sandbox.Isolation.Interop;
using Sandbox.Isolation.MicroVm;

namespace Sandbox.E2E;

/// <summary>The agent runs inside the boundary, next to the code it supervises. These are the attacks that code can
/// make on it (as an attacker would try them), and what the host must do when the agent stops answering: every one
/// on both tiers of long-lived sandboxes.</summary>
public sealed class AgentTrustTests
{
    public static TheoryData<ExecutionMode> Modes => [ExecutionMode.Agent, ExecutionMode.MicroVm];

    private const int SIGSTOP = 19;

    /// <summary>A bound on every wait below, so a regression fails the test instead of hanging the suite.</summary>
    private static readonly TimeSpan s_hangGuard = TimeSpan.FromSeconds(120);

    private static async Task<(ExitStatus Status, string Stdout, string Stderr)> Exec(ISandbox sandbox, ProcessSpec spec, CancellationToken cancellationToken)
    {
        var stdout = new MemoryStream();
        var stderr = new MemoryStream();
        var p = await sandbox.ExecAsync(spec, new ProcessIO { Stdout = stdout, Stderr = stderr }, cancellationToken);
        var status = await p.WaitAsync(cancellationToken);
        return (status, Encoding.UTF8.GetString(stdout.ToArray()), Encoding.UTF8.GetString(stderr.ToArray()));
    }

    [Theory, MemberData(nameof(Modes))]
    public async Task Workload_cannot_open_the_agents_memory_or_list_its_descriptors(ExecutionMode mode)
    {
        using var guard = new CancellationTokenSource(s_hangGuard);
        await using var sandbox = await Harness.DriverFor(mode).CreateAsync(new SandboxSpec(), guard.Token);
        // The exec's parent is the agent on both tiers. Each probe prints "<what> open" or "<what> denied <errno>".
        var (status, stdout, stderr) = await Exec(sandbox, Harness.Python("""
            import os
            a = os.getppid()
            print("agent", open(f"/proc/{a}/comm").read().strip() if os.path.exists(f"/proc/{a}") else "hidden")
            def probe(what, f):
                try:
                    f()
                    print(what, "open")
                except OSError as e:
                    print(what, "denied", e.errno)
            probe("mem", lambda: open(f"/proc/{a}/mem", "r+b").close())
            probe("fd", lambda: os.listdir(f"/proc/{a}/fd"))
            probe("environ", lambda: open(f"/proc/{a}/environ", "rb").read())
            probe("maps", lambda: open(f"/proc/{a}/maps").read())
            """), guard.Token);
        Assert.True(status.ExitCode == 0, $"exit {status.ExitCode}: {stderr}");
        var lines = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        // The microVM guest's /proc is hidepid=invisible: the agent (root's) is not even listed there.
        Assert.Equal(mode == ExecutionMode.MicroVm ? "agent hidden" : "agent sandbox-agent", lines[0]);
        foreach (var what in new[] { "mem", "fd", "environ", "maps" })
            Assert.Contains(lines, l => l.StartsWith(what + " denied", StringComparison.Ordinal));
    }

    [Theory, MemberData(nameof(Modes))]
    public async Task Workload_cannot_stop_the_agent_and_a_later_time_limit_still_fires(ExecutionMode mode)
    {
        using var guard = new CancellationTokenSource(s_hangGuard);
        await using var sandbox = await Harness.DriverFor(mode).CreateAsync(new SandboxSpec(), guard.Token);
        await Exec(sandbox, Harness.Sh("kill -STOP $PPID"), guard.Token);
        var (status, _, _) = await Exec(sandbox, Harness.Sh("sleep 60") with { Timeout = TimeSpan.FromSeconds(2) }, guard.Token);
        Assert.True(status.TimedOut);
        var (after, stdout, _) = await Exec(sandbox, Harness.Sh("echo alive"), guard.Token);
        Assert.Equal(0, after.ExitCode);
        Assert.Equal("alive\n", stdout);
    }

    [Theory, MemberData(nameof(Modes))]
    public async Task Workload_cannot_kill_the_agent(ExecutionMode mode)
    {
        using var guard = new CancellationTokenSource(s_hangGuard);
        await using var sandbox = await Harness.DriverFor(mode).CreateAsync(new SandboxSpec(), guard.Token);
        // Every signal a shell can send, the uncatchable ones last.
        await Exec(sandbox, Harness.Sh("for s in TERM INT QUIT HUP USR1 USR2 PIPE ALRM SEGV ABRT KILL; do kill -$s $PPID; done"), guard.Token);
        var (status, stdout, _) = await Exec(sandbox, Harness.Sh("echo alive"), guard.Token);
        Assert.Equal(0, status.ExitCode);
        Assert.Equal("alive\n", stdout);
    }

    [Theory, MemberData(nameof(Modes))]
    public async Task Workload_does_not_share_the_agents_uid_and_cannot_change_its_rlimits(ExecutionMode mode)
    {
        using var guard = new CancellationTokenSource(s_hangGuard);
        await using var sandbox = await Harness.DriverFor(mode).CreateAsync(new SandboxSpec(), guard.Token);
        // A tiny RLIMIT_NOFILE or RLIMIT_CPU on the agent would make it fail or die: prlimit needs the same uid (or
        // CAP_SYS_RESOURCE), and the agent has a uid of its own on both tiers.
        var (status, stdout, stderr) = await Exec(sandbox, Harness.Sh("""
            echo "me $(id -u)"
            echo "agent $(awk '/^Uid:/ {print $2}' /proc/$PPID/status)"
            prlimit --pid $PPID --nofile=1:1 2>/dev/null && echo nofile-changed || echo nofile-denied
            prlimit --pid $PPID --cpu=1:1 2>/dev/null && echo cpu-changed || echo cpu-denied
            """), guard.Token);
        Assert.True(status.ExitCode == 0, $"exit {status.ExitCode}: {stderr}");
        var lines = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("me 1000", lines[0]);
        Assert.NotEqual("agent 1000", lines[1]);
        Assert.Equal(["nofile-denied", "cpu-denied"], lines[2..]);
        var (after, alive, _) = await Exec(sandbox, Harness.Sh("echo alive"), guard.Token);
        Assert.Equal(0, after.ExitCode);
        Assert.Equal("alive\n", alive);
    }

    [Theory, MemberData(nameof(Modes))]
    public async Task An_exec_times_out_even_when_the_agent_stops_answering(ExecutionMode mode)
    {
        using var guard = new CancellationTokenSource(s_hangGuard);
        await using var sandbox = await Harness.DriverFor(mode).CreateAsync(new SandboxSpec(), guard.Token);
        var p = await sandbox.ExecAsync(Harness.Sh("sleep 600") with { Timeout = TimeSpan.FromSeconds(2) }, new ProcessIO(), guard.Token);
        // What a compromised agent could do to itself: stop answering (here the host stops it, or the VM behind it).
        StopAgent(sandbox, mode, SIGSTOP);
        var status = await p.WaitAsync(guard.Token);
        Assert.True(status.TimedOut);
        var e = await Assert.ThrowsAsync<SandboxException>(() => Exec(sandbox, Harness.Sh("true"), guard.Token));
        Assert.Contains(sandbox.Info.Id.Value, e.Message);
        Assert.Contains(e.Code, new[] { SandboxErrorCode.Unavailable, SandboxErrorCode.FailedPrecondition });
    }

    [Theory, MemberData(nameof(Modes))]
    public async Task A_silent_agent_makes_the_sandbox_broken_and_calls_fail_instead_of_hanging(ExecutionMode mode)
    {
        using var guard = new CancellationTokenSource(s_hangGuard);
        await using var sandbox = await Harness.DriverFor(mode).CreateAsync(new SandboxSpec(), guard.Token);
        StopAgent(sandbox, mode, SIGSTOP);
        var first = await Assert.ThrowsAsync<SandboxException>(() => Exec(sandbox, Harness.Sh("true"), guard.Token));
        Assert.Contains(sandbox.Info.Id.Value, first.Message);
        Assert.Equal(SandboxErrorCode.Unavailable, first.Code);
        // Broken now: later calls of every kind fail at once with the same reason, without asking the agent.
        var read = await Assert.ThrowsAsync<SandboxException>(() => sandbox.ReadFileAsync("/etc/hostname", 1024, guard.Token));
        Assert.Equal(SandboxErrorCode.Unavailable, read.Code);
        Assert.Contains("broken", read.Message);
        var list = await Assert.ThrowsAsync<SandboxException>(() => sandbox.ListFilesAsync("/", 10, guard.Token));
        Assert.Contains("broken", list.Message);
    }

    [Theory, MemberData(nameof(Modes))]
    public async Task A_dead_agent_makes_the_sandbox_broken(ExecutionMode mode)
    {
        using var guard = new CancellationTokenSource(s_hangGuard);
        await using var sandbox = await Harness.DriverFor(mode).CreateAsync(new SandboxSpec(), guard.Token);
        StopAgent(sandbox, mode, Libc.SIGKILL);
        var e = await Assert.ThrowsAsync<SandboxException>(() => Exec(sandbox, Harness.Sh("true"), guard.Token));
        Assert.Equal(SandboxErrorCode.Unavailable, e.Code);
        Assert.Contains(sandbox.Info.Id.Value, e.Message);
        var again = await Assert.ThrowsAsync<SandboxException>(() => sandbox.WriteFileAsync("/tmp/x", "x"u8.ToArray(), 0x1a4, guard.Token));
        Assert.Contains("broken", again.Message);
    }

    /// <summary>Sends <paramref name="signal"/> from the host to the agent (container: the sandbox-agent process in the
    /// sandbox's cgroup; microVM: the QEMU process behind the guest agent).</summary>
    private static void StopAgent(ISandbox sandbox, ExecutionMode mode, int signal)
    {
        if (mode == ExecutionMode.MicroVm)
        {
            Assert.Equal(0, Libc.Kill(((MicroVmSandbox)sandbox).Instance.QemuPid, signal));
            return;
        }
        // An exec's process is also called sandbox-agent until it has exec'd its program (it starts held, as the
        // agent's own binary, a child of the agent): the agent is the one whose parent is not an agent.
        var procs = CgroupTree.Procs(sandbox.Info.CgroupPath!);
        var pids = procs.Where(pid => HostProcess.Comm(pid) == "sandbox-agent" && HostProcess.Comm(HostProcess.ParentPid(pid)) != "sandbox-agent").ToList();
        Assert.True(pids.Count == 1, $"expected one sandbox-agent process in {sandbox.Info.CgroupPath}, found {pids.Count}");
        Assert.Equal(0, Libc.Kill(pids[0], signal));
    }
}
