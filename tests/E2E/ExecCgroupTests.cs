using System.Text;
using Sandbox.Isolation;
using Sandbox.Isolation.Agent;
using Sandbox.Isolation.Container;
using Sandbox.Isolation.Interop;
using Sandbox.Isolation.Native;

namespace Sandbox.E2E;

/// <summary>Container tier: each exec of a long-lived sandbox runs in a cgroup of its own that the host made and put it
/// in before any of its code ran, so the host enforces its time limit, kills it and attributes OOM kills to it without
/// the agent's help (the agent is stopped by the host in these tests, as a compromised agent could stop itself).</summary>
public sealed class ExecCgroupTests
{
    private const int SIGSTOP = 19;
    private static readonly TimeSpan s_hangGuard = TimeSpan.FromSeconds(120);

    /// <summary>A driver whose agent deadline outlasts every test here: only the host's own kill can end a process of
    /// a sandbox whose agent is stopped within the hang guard.</summary>
    private static readonly BubblewrapDriver s_patientDriver = new(new BubblewrapOptions
    {
        AgentCallDeadline = TimeSpan.FromMinutes(30),
        AgentDirectory = Harness.AgentDirectory,
    });

    [Fact]
    public async Task Each_exec_is_in_a_cgroup_of_its_own_from_its_first_instruction()
    {
        using var guard = new CancellationTokenSource(s_hangGuard);
        await using var sandbox = await Harness.Driver.CreateAsync(new SandboxSpec(), guard.Token);
        // The program's own first look at /proc/self/cgroup already shows its exec cgroup: it was moved while held.
        var first = await Output(sandbox, Harness.Sh("cat /proc/self/cgroup"), guard.Token);
        var second = await Output(sandbox, Harness.Sh("cat /proc/self/cgroup"), guard.Token);
        var id = sandbox.Info.Id.Value;
        string Leaf(string cgroups, string controller) => cgroups.Split('\n')
            .Select(l => l.Split(':', 3)).Single(p => p.Length == 3 && p[1].Split(',').Contains(controller))[2];
        foreach (var controller in new[] { "memory", "pids" })
        {
            // Inside the sandbox's cgroup namespace, rooted at the sandbox's cgroup, the path is "/<exec>".
            var a = Leaf(first, controller);
            var b = Leaf(second, controller);
            Assert.DoesNotContain(ContainerLauncher.AgentCgroupName, a.Split('/').Last());
            Assert.Matches("^/e[0-9a-f]+-[0-9]+$", a);
            Assert.NotEqual(a, b);
        }
        // From the host: the exec cgroups sit below the sandbox's; the agent has its own.
        var agent = Path.Combine(sandbox.Info.CgroupPath!, ContainerLauncher.AgentCgroupName);
        Assert.True(Directory.Exists(agent), $"{agent} is missing");
        Assert.Contains(CgroupTree.Procs(agent), pid => HostProcess.Comm(pid) == "sandbox-agent");
        Assert.DoesNotContain(id, first.Split('\n')[0].Split(':').Last()); // the cgroup namespace hides the host path
    }

    [Fact]
    public async Task A_time_limit_is_enforced_by_the_host_while_the_agent_is_stopped()
    {
        using var guard = new CancellationTokenSource(s_hangGuard);
        await using var sandbox = await s_patientDriver.CreateAsync(new SandboxSpec(), guard.Token);
        var p = await sandbox.ExecAsync(Harness.Sh("sleep 600") with { Timeout = TimeSpan.FromSeconds(3) }, ProcessIO.Discard, guard.Token);
        var sleep = await SandboxTests.FindHostPidAsync(sandbox.Info.CgroupPath!, "sleep");
        using var pidfd = PidfdHandle.Open(sleep);
        var gone = ProcessWatcher.WatchAsync(pidfd, reap: false);
        Assert.Equal(0, Libc.Kill(AgentPid(sandbox), SIGSTOP));
        // The agent answers nothing for 30 minutes; the host's timer kills the exec's cgroup at 3 s. (The exec's status
        // itself waits for the agent's word or its deadline; the process is gone either way.)
        await gone.WaitAsync(guard.Token);
        Assert.False(p.WaitAsync(CancellationToken.None).IsCompleted);
    }

    [Fact]
    public async Task Kill_reaches_the_exec_from_the_host_while_the_agent_is_stopped()
    {
        using var guard = new CancellationTokenSource(s_hangGuard);
        await using var sandbox = await s_patientDriver.CreateAsync(new SandboxSpec(), guard.Token);
        var p = await sandbox.ExecAsync(Harness.Sh("sleep 600 & sleep 600"), ProcessIO.Discard, guard.Token);
        var sleep = await SandboxTests.FindHostPidAsync(sandbox.Info.CgroupPath!, "sleep");
        using var pidfd = PidfdHandle.Open(sleep);
        var gone = ProcessWatcher.WatchAsync(pidfd, reap: false);
        Assert.Equal(0, Libc.Kill(AgentPid(sandbox), SIGSTOP));
        await p.SignalAsync(9, guard.Token);
        await gone.WaitAsync(guard.Token);
        // Everything the exec started went with it (its cgroup), the background sleep included.
        Assert.DoesNotContain(CgroupTree.Procs(sandbox.Info.CgroupPath!), pid => HostProcess.Comm(pid) == "sleep");
    }

    [Fact]
    public async Task An_oom_kill_is_reported_for_the_exec_that_caused_it_only()
    {
        using var guard = new CancellationTokenSource(s_hangGuard);
        await using var sandbox = await Harness.Driver.CreateAsync(new SandboxSpec { Limits = ResourceLimits.Default with { MemoryMiB = 64 } }, guard.Token);
        var bystander = await sandbox.ExecAsync(new ProcessSpec { Argv = ["sleep", "600"] }, ProcessIO.Discard, guard.Token);
        var hog = await sandbox.ExecAsync(Harness.Python("x = []\nwhile True: x.append(bytearray(1 << 20))"), ProcessIO.Discard, guard.Token);
        var hogStatus = await hog.WaitAsync(guard.Token);
        Assert.True(hogStatus.OomKilled, $"hog: {hogStatus}");
        await bystander.SignalAsync(15, guard.Token);
        var bystanderStatus = await bystander.WaitAsync(guard.Token);
        Assert.False(bystanderStatus.OomKilled, $"bystander: {bystanderStatus}");
        Assert.Equal(15, bystanderStatus.Signal);
    }

    [Fact]
    public async Task A_missing_program_is_not_found_and_leaves_no_exec_cgroup()
    {
        using var guard = new CancellationTokenSource(s_hangGuard);
        await using var sandbox = await Harness.Driver.CreateAsync(new SandboxSpec(), guard.Token);
        var e = await Assert.ThrowsAsync<SandboxException>(() =>
            sandbox.ExecAsync(new ProcessSpec { Argv = ["/no/such/program"] }, ProcessIO.Discard, guard.Token));
        Assert.Equal(SandboxErrorCode.NotFound, e.Code);
        Assert.Contains("/no/such/program", e.Message);
        // The refused exec's cgroup is gone; what may be there beside the agent's is the next exec's, prepared anew,
        // holding its first stage alone (or, for an instant, nothing yet).
        var execs = Directory.GetDirectories(sandbox.Info.CgroupPath!).Where(d => Path.GetFileName(d) != ContainerLauncher.AgentCgroupName).ToList();
        Assert.True(execs.Count <= 1, string.Join(", ", execs));
        Assert.All(execs.SelectMany(CgroupTree.Procs), pid => Assert.Contains(HostProcess.Comm(pid), new[] { "sandbox-exec", "ld-linux-x86-64" }));
    }

    [Fact]
    public async Task A_prepared_first_stage_waits_in_its_exec_cgroup_as_the_agent_and_the_next_exec_runs_there()
    {
        using var guard = new CancellationTokenSource(s_hangGuard);
        await using var sandbox = await Harness.Driver.CreateAsync(new SandboxSpec(), guard.Token);
        await ((IWarmUp)sandbox).WarmUpAsync(guard.Token);
        // Beside the agent's cgroup, one exec cgroup made ahead of any request, holding one process: the agent's first
        // stage, with the agent's host uid (not the workload's), running no program.
        var prepared = Assert.Single(Directory.GetDirectories(sandbox.Info.CgroupPath!), d => Path.GetFileName(d) != ContainerLauncher.AgentCgroupName);
        var stage = Assert.Single(CgroupTree.Procs(prepared));
        // The bundle's lean first stage (freestanding C, no loader), waiting for its program: not dumpable, so nothing of
        // the workload's uid could read or trace it even if it shared one.
        Assert.Equal("sandbox-exec", HostProcess.Comm(stage));
        Assert.Equal(["sandbox-exec"], File.ReadAllText($"/proc/{stage}/cmdline").TrimEnd('\0').Split('\0'));
        Assert.Equal(HostUid(AgentPid(sandbox)), HostUid(stage));
        Assert.NotEqual(sandbox.Info.HostUid, HostUid(stage));
        // Its first instruction makes it non-dumpable (its /proc files then belong to the namespace's root, not to it);
        // on a loaded host that may come after its placement.
        while (ProcOwner(stage) == HostUid(stage))
            await Task.Delay(20, guard.Token);
        // While it waits it has already given up its bounding set (off the exec's path; sandbox-exec.c), and still
        // holds the agent's effective capabilities, which it needs to become the user once its exec comes.
        while (StatusMask(stage, "CapBnd:") != 0)
            await Task.Delay(20, guard.Token);
        Assert.Equal(StatusMask(AgentPid(sandbox), "CapEff:"), StatusMask(stage, "CapEff:"));
        // The exec runs in it: its cgroup is that one from its first instruction, and it is the workload user.
        var cgroups = await Output(sandbox, Harness.Sh("cat /proc/self/cgroup; id -u"), guard.Token);
        var memory = cgroups.Split('\n').Select(l => l.Split(':', 3)).Single(p => p.Length == 3 && p[1].Split(',').Contains("memory"))[2];
        Assert.Equal(Path.GetFileName(prepared), memory.Split('/').Last());
        Assert.Equal((SandboxUser.Default.Uid).ToString(), cgroups.Split('\n', StringSplitOptions.RemoveEmptyEntries).Last());
    }

    [Fact]
    public async Task A_prepared_exec_that_cannot_enter_its_working_directory_exits_126_naming_it()
    {
        using var guard = new CancellationTokenSource(s_hangGuard);
        await using var sandbox = await Harness.Driver.CreateAsync(new SandboxSpec(), guard.Token);
        // The agent checks that the directory exists; entering it is the user's own right, checked by the first stage
        // once it is that user (mode 000: not even its owner may).
        await Output(sandbox, Harness.Sh("mkdir /tmp/locked && chmod 000 /tmp/locked"), guard.Token);
        var stderr = new MemoryStream();
        var p = await sandbox.ExecAsync(new ProcessSpec { Argv = ["true"], WorkingDirectory = "/tmp/locked" }, new ProcessIO { Stderr = stderr }, guard.Token);
        var status = await p.WaitAsync(guard.Token);
        Assert.Equal(126, status.ExitCode);
        Assert.Contains("chdir /tmp/locked", Encoding.UTF8.GetString(stderr.ToArray()));
        // The next exec is prepared anew and runs as usual.
        Assert.Equal("ok\n", await Output(sandbox, Harness.Sh("echo ok"), guard.Token));
    }

    private static int ProcOwner(int pid)
    {
        using var stat = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo("stat", ["-c", "%u", $"/proc/{pid}/status"]) { RedirectStandardOutput = true })!;
        var owner = stat.StandardOutput.ReadToEnd().Trim();
        stat.WaitForExit();
        return int.Parse(owner);
    }

    /// <summary>A capability mask line of /proc/PID/status (hex). The processes read are ones the test holds alive (the
    /// sandbox's agent, a first stage waiting for its exec).</summary>
    private static ulong StatusMask(int pid, string field) =>
        ulong.Parse(File.ReadLines($"/proc/{pid}/status").First(l => l.StartsWith(field, StringComparison.Ordinal))[field.Length..].Trim(),
            System.Globalization.NumberStyles.HexNumber);

    private static int HostUid(int pid) =>
        int.Parse(File.ReadLines($"/proc/{pid}/status").First(l => l.StartsWith("Uid:", StringComparison.Ordinal)).Split('\t', StringSplitOptions.RemoveEmptyEntries)[1]);

    [Fact]
    public async Task An_exec_whose_time_limit_is_shorter_than_the_agents_wait_is_timed_out_by_the_host()
    {
        // The agent holds a short exec's answer until its end (AgentProcess.AskForEnd); a limit inside that wait still
        // ends the exec, by the host, counted from the Exec.
        using var guard = new CancellationTokenSource(s_hangGuard);
        await using var sandbox = await Harness.Driver.CreateAsync(new SandboxSpec(), guard.Token);
        var limit = AgentProcess.ExecWait / 2;
        var p = await sandbox.ExecAsync(Harness.Sh("sleep 600") with { Timeout = limit }, ProcessIO.Discard, guard.Token);
        var status = await p.WaitAsync(guard.Token);
        Assert.True(status.TimedOut);
        Assert.True(status.Duration >= limit && status.Duration < TimeSpan.FromSeconds(60), status.Duration.ToString());
        Assert.Equal("ok\n", await Output(sandbox, Harness.Sh("echo ok"), guard.Token));
    }

    [Fact]
    public async Task A_short_exec_whose_background_child_keeps_its_output_open_ends_with_its_exit_and_output()
    {
        // Its answer comes with the exit status but no end of stdout (the child holds it): the host reads on, for the
        // output grace, as after an ordinary Exec.
        using var guard = new CancellationTokenSource(s_hangGuard);
        await using var sandbox = await Harness.Driver.CreateAsync(new SandboxSpec(), guard.Token);
        var stdout = new MemoryStream();
        var p = await sandbox.ExecAsync(Harness.Sh("sleep 30 & echo hi; exit 7"), new ProcessIO { Stdout = stdout }, guard.Token);
        var status = await p.WaitAsync(guard.Token);
        Assert.Equal(7, status.ExitCode);
        Assert.Equal("hi\n", Encoding.UTF8.GetString(stdout.ToArray()));
        Assert.Equal("ok\n", await Output(sandbox, Harness.Sh("echo ok"), guard.Token));
    }

    private static async Task<string> Output(ISandbox sandbox, ProcessSpec spec, CancellationToken cancellationToken)
    {
        var stdout = new MemoryStream();
        var p = await sandbox.ExecAsync(spec, new ProcessIO { Stdout = stdout }, cancellationToken);
        Assert.Equal(0, (await p.WaitAsync(cancellationToken)).ExitCode);
        return Encoding.UTF8.GetString(stdout.ToArray());
    }

    private static int AgentPid(ISandbox sandbox) =>
        CgroupTree.Procs(sandbox.Info.CgroupPath!).Single(pid => HostProcess.Comm(pid) == "sandbox-agent");
}
