using System.Diagnostics;
using Sandbox.Isolation.Cgroups;
using Sandbox.Isolation.Cgroups.V2;

namespace Sandbox.Isolation.Tests;

/// <summary>Sub-cgroups (a long-lived sandbox's agent and each exec): on this host's real hierarchy (v1 here, v2 in
/// the guest-VM matrix) and, for v2's file protocol, against a fake cgroupfs directory.</summary>
public sealed class SubCgroupTests : IAsyncDisposable
{
    private const string Parent = "sandbox-subcgroup-test";
    private static CgroupLayout Host => CgroupLayout.Host;
    private readonly string _fake = Directory.CreateTempSubdirectory("fake-cgroup2-sub-").FullName;

    [Fact]
    public async Task A_sub_cgroup_holds_its_own_tasks_is_killed_alone_and_goes_with_its_parent()
    {
        var id = SandboxId.New();
        await using var sandbox = CgroupFactory.Create(Host, Parent, id, ResourceLimits.Default);
        var agent = sandbox.CreateChild("agent");
        var exec = sandbox.CreateChild("e1");
        using var agentSleeper = Process.Start("sleep", "600");
        using var execSleeper = Process.Start("sleep", "600");
        try
        {
            agent.AddProcess(agentSleeper.Id);
            exec.AddProcess(execSleeper.Id);
            Assert.Equal([agentSleeper.Id], agent.Pids());
            Assert.Equal([execSleeper.Id], exec.Pids());
            Assert.Empty(sandbox.Pids());
            Assert.True(sandbox.ReadStats().Tasks >= 2, "the sandbox's pids count includes its sub-cgroups");
            Assert.False(exec.TryRemoveEmpty());

            // Killing an exec's cgroup leaves the agent's alone.
            await exec.KillAllAsync(CancellationToken.None);
            await execSleeper.WaitForExitAsync();
            Assert.False(agentSleeper.HasExited);
            Assert.True(exec.TryRemoveEmpty());
            Assert.Null(sandbox.OpenChild("e1"));
            Assert.NotNull(sandbox.OpenChild("agent"));
            Assert.Throws<ArgumentException>(() => sandbox.CreateChild("../x"));
        }
        finally
        {
            // Disposing the sandbox's cgroup kills what is in its sub-cgroups and removes them.
            await sandbox.DisposeAsync();
            await agentSleeper.WaitForExitAsync();
        }
        Assert.False(Directory.Exists(sandbox.Path));
    }

    /// <summary>The error of a freeze or kill that did not finish names the tasks that held it: each thread of every
    /// process in the sandbox's cgroup and its sub-cgroups, with its state and the kernel function it waits in.</summary>
    [Fact]
    public async Task The_tasks_of_a_sandbox_and_its_sub_cgroups_are_described_by_state_and_wait()
    {
        await using var sandbox = CgroupFactory.Create(Host, Parent, SandboxId.New(), ResourceLimits.Default);
        var agent = sandbox.CreateChild("agent");
        Assert.Equal("", CgroupTaskStates.Describe(sandbox.Path));
        using var sleeper = Process.Start("sleep", "600");
        try
        {
            agent.AddProcess(sleeper.Id);
            var described = CgroupTaskStates.Describe(sandbox.Path);
            Assert.StartsWith("tasks: ", described);
            Assert.Contains($"{sleeper.Id}/{sleeper.Id} (sleep) ", described);
        }
        finally
        {
            await sandbox.DisposeAsync();
            await sleeper.WaitForExitAsync();
        }
    }

    /// <summary>A kill waits for a process that is already dead (a one-shot's bwrap init after bwrap was reaped: a zombie
    /// until its new parent reaps it) instead of freezing the cgroup for it; a live one is not taken for dead. Here the
    /// zombie is a short `sleep`, started in the background by a shell that then becomes `sleep 600`, which never reaps it.</summary>
    [Fact]
    public async Task A_zombie_counts_as_exiting_and_a_live_process_does_not()
    {
        await using var sandbox = CgroupFactory.Create(Host, Parent, SandboxId.New(), ResourceLimits.Default);
        var psi = new ProcessStartInfo("sh") { RedirectStandardOutput = true };
        psi.ArgumentList.Add("-c");
        psi.ArgumentList.Add("sleep 0.2 & echo $!; exec sleep 600");
        using var parent = Process.Start(psi)!;
        try
        {
            var zombie = int.Parse((await parent.StandardOutput.ReadLineAsync())!);
            var deadline = DateTime.UtcNow.AddSeconds(10);
            while (File.ReadAllText($"/proc/{zombie}/stat").Split(')')[1].Trim()[0] != 'Z')
            {
                Assert.True(DateTime.UtcNow < deadline, "the background sleep never became a zombie");
                await Task.Delay(10);
            }
            Assert.True(CgroupTaskStates.IsExiting(zombie));
            Assert.False(CgroupTaskStates.IsExiting(parent.Id));
            Assert.True(CgroupTaskStates.IsExiting(int.MaxValue), "a process that is gone is no longer running");
            // The sandbox's kill still kills the live one (the zombie went with it: its parent reaped it, or init did).
            sandbox.AddProcess(parent.Id);
            await sandbox.KillAllAsync(CancellationToken.None);
            await parent.WaitForExitAsync();
            Assert.Empty(sandbox.Pids());
        }
        finally
        {
            parent.Kill();
        }
    }

    /// <summary>A long-lived sandbox's bwrap and agent start in the sandbox's own cgroup (so its cgroup namespace is
    /// rooted there) and then move, all of them, into the agent's sub-cgroup; execs' sub-cgroups can follow.</summary>
    [Fact]
    public async Task Processes_of_the_sandboxs_own_cgroup_move_into_a_new_sub_cgroup_and_execs_can_follow()
    {
        await using var sandbox = CgroupFactory.Create(Host, Parent, SandboxId.New(), ResourceLimits.Default);
        using var first = Process.Start("sleep", "600");
        using var second = Process.Start("sleep", "600");
        try
        {
            sandbox.AddProcess(first.Id);
            sandbox.AddProcess(second.Id);
            var agent = sandbox.MoveProcessesIntoChild("agent");
            Assert.Empty(sandbox.Pids());
            Assert.Equal(new[] { first.Id, second.Id }.Order(), agent.Pids().Order());
            Assert.All(new[] { first.Id, second.Id }, pid => Assert.Contains($"/{Parent}/", File.ReadAllText($"/proc/{pid}/cgroup")));
            Assert.All(File.ReadAllLines($"/proc/{first.Id}/cgroup").Where(l => l.Contains($"/{Parent}/", StringComparison.Ordinal)),
                line => Assert.EndsWith("/agent", line));
            var exec = sandbox.CreateChild("e1", tasksOnly: true);
            exec.AddProcess(second.Id);
            Assert.Equal([first.Id], agent.Pids());
            Assert.Throws<SandboxException>(() => sandbox.MoveProcessesIntoChild("agent"));
        }
        finally
        {
            await sandbox.DisposeAsync();
            await first.WaitForExitAsync();
            await second.WaitForExitAsync();
        }
    }

    [Fact]
    public void V2_enables_the_sandboxs_controllers_for_its_sub_cgroups_one_per_write()
    {
        FakeCgroup(".", "cpu memory pids");
        FakeCgroup("sandbox", "cpu memory pids");
        var id = SandboxId.New();
        var sandbox = CgroupV2.Create(_fake, "sandbox", id, ResourceLimits.Default with { Cpus = 1, CpuQuotaRequired = true });
        var dir = Path.Combine(_fake, "sandbox", id.Value);
        File.WriteAllText(Path.Combine(dir, "cgroup.controllers"), "cpu memory pids\n");
        File.WriteAllText(Path.Combine(dir, "cgroup.subtree_control"), "");
        var child = sandbox.CreateChild("agent");
        Assert.Equal(["+memory", "+pids", "+cpu"], File.ReadAllLines(Path.Combine(dir, "cgroup.subtree_control")));
        Assert.Equal(Path.Combine(dir, "agent"), child.Path);
        Assert.True(Directory.Exists(child.Path));
        // No limits of its own: the sandbox's hold.
        Assert.False(File.Exists(Path.Combine(child.Path, "memory.max")));
    }

    [Fact]
    public void V2_enables_the_sandboxs_controllers_only_after_its_processes_moved_into_the_agents_sub_cgroup()
    {
        FakeCgroup(".", "memory pids");
        FakeCgroup("sandbox", "memory pids");
        var id = SandboxId.New();
        var sandbox = CgroupV2.Create(_fake, "sandbox", id, ResourceLimits.Default with { Cpus = 0 });
        var dir = Path.Combine(_fake, "sandbox", id.Value);
        File.WriteAllText(Path.Combine(dir, "cgroup.controllers"), "memory pids\n");
        File.WriteAllText(Path.Combine(dir, "cgroup.subtree_control"), "");
        File.WriteAllText(Path.Combine(dir, "cgroup.procs"), "");
        var child = sandbox.MoveProcessesIntoChild("agent");
        Assert.Equal(Path.Combine(dir, "agent"), child.Path);
        Assert.Equal(["+memory", "+pids"], File.ReadAllLines(Path.Combine(dir, "cgroup.subtree_control")));
        Assert.Throws<SandboxException>(() => sandbox.MoveProcessesIntoChild("agent"));
    }

    [Fact]
    public void V2_refuses_a_sub_cgroup_when_the_sandbox_cannot_offer_its_controllers()
    {
        FakeCgroup(".", "memory pids");
        FakeCgroup("sandbox", "memory pids");
        var id = SandboxId.New();
        var sandbox = CgroupV2.Create(_fake, "sandbox", id, ResourceLimits.Default with { Cpus = 0 });
        var dir = Path.Combine(_fake, "sandbox", id.Value);
        File.WriteAllText(Path.Combine(dir, "cgroup.controllers"), "memory\n");
        File.WriteAllText(Path.Combine(dir, "cgroup.subtree_control"), "");
        var e = Assert.Throws<SandboxException>(() => sandbox.CreateChild("agent"));
        Assert.Contains("pids", e.Message);
        Assert.Empty(File.ReadAllText(Path.Combine(dir, "cgroup.subtree_control")));
    }

    private void FakeCgroup(string relative, string controllers)
    {
        var dir = Path.Combine(_fake, relative);
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, "cgroup.controllers"), controllers + "\n");
        File.WriteAllText(Path.Combine(dir, "cgroup.subtree_control"), "");
        File.WriteAllText(Path.Combine(dir, "cgroup.procs"), "");
        File.WriteAllText(Path.Combine(dir, "cgroup.type"), "domain\n");
    }

    public async ValueTask DisposeAsync()
    {
        Directory.Delete(_fake, true);
        foreach (var id in CgroupFactory.List(Host, Parent))
        {
            if (CgroupFactory.Open(Host, Parent, id) is { } left)
                await left.DisposeAsync();
        }
    }
}
