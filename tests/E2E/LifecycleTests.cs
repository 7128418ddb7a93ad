using System.Text;
using Sandbox.Isolation;
using Sandbox.Isolation.Container;
using Sandbox.Isolation.Interop;
using Sandbox.Isolation.MicroVm;

namespace Sandbox.E2E;

/// <summary>The lifecycle half of the driver seam on real sandboxes: the exit notification, pause/resume, a signal to
/// the whole sandbox, and limit updates, each checked against what the kernel (or QEMU) itself reports.</summary>
public sealed class LifecycleTests
{
    private static readonly TimeSpan s_bound = TimeSpan.FromMinutes(2);

    private static async Task<string> Exec(ISandbox sandbox, string script)
    {
        var stdout = new MemoryStream();
        var p = await sandbox.ExecAsync(Harness.Sh(script), new ProcessIO { Stdout = stdout }, CancellationToken.None);
        var status = await p.WaitAsync(CancellationToken.None);
        Assert.Equal(0, status.ExitCode);
        return Encoding.UTF8.GetString(stdout.ToArray());
    }

    /// <summary>The freezer state of a container, read from the kernel: v1's freezer hierarchy or v2's cgroup.events.</summary>
    private static bool IsFrozen(int pid)
    {
        foreach (var line in File.ReadLines($"/proc/{pid}/cgroup"))
        {
            var parts = line.Split(':', 3);
            if (parts[1].Split(',').Contains("freezer"))
                return File.ReadAllText($"/sys/fs/cgroup/freezer{parts[2]}/freezer.state").Trim() == "FROZEN";
            if (parts[0] == "0" && parts[1] == "" && File.Exists($"/sys/fs/cgroup{parts[2]}/cgroup.events"))
                return File.ReadLines($"/sys/fs/cgroup{parts[2]}/cgroup.events").Contains("frozen 1");
        }
        throw new InvalidOperationException($"process {pid} is in no freezer cgroup");
    }

    [Fact]
    public async Task Container_pause_freezes_every_task_and_resume_lets_execs_run()
    {
        await using var sandbox = await Harness.Driver.CreateAsync(new SandboxSpec(), CancellationToken.None);
        var bwrap = ((ContainerSandbox)sandbox).Instance.Bwrap.Pid;
        Assert.True(Harness.Driver.Capabilities.HasFlag(DriverCapabilities.Pause));
        Assert.False(IsFrozen(bwrap));
        await sandbox.PauseAsync(CancellationToken.None);
        Assert.True(IsFrozen(bwrap));
        // A signal to the whole sandbox while it is paused must not thaw it.
        await sandbox.SignalAsync(28 /* SIGWINCH: ignored by default */, CancellationToken.None);
        Assert.True(IsFrozen(bwrap));
        await sandbox.ResumeAsync(CancellationToken.None);
        Assert.False(IsFrozen(bwrap));
        Assert.Equal("ok\n", await Exec(sandbox, "echo ok"));
        Assert.False(sandbox.Terminated.IsCompleted);
    }

    [Fact]
    public async Task Container_killed_as_a_whole_reports_its_death()
    {
        await using var sandbox = await Harness.Driver.CreateAsync(new SandboxSpec(), CancellationToken.None);
        await sandbox.SignalAsync(Libc.SIGKILL, CancellationToken.None);
        var end = await sandbox.Terminated.WaitAsync(s_bound);
        Assert.Equal(SandboxTerminationReason.ProcessExited, end.Reason);
        Assert.Contains("bwrap exited", end.Detail);
    }

    [Fact]
    public async Task Container_workload_killed_leaves_the_sandbox_and_its_agent_running()
    {
        await using var sandbox = await Harness.Driver.CreateAsync(new SandboxSpec(), CancellationToken.None);
        // A process an exec left behind is the workload's; the agent is not, so the sandbox takes the next exec.
        await Exec(sandbox, "sleep 600 >/dev/null 2>&1 & echo started");
        Assert.NotEmpty(await sandbox.ListWorkloadProcessesAsync(CancellationToken.None));
        await sandbox.SignalWorkloadAsync(Libc.SIGKILL, CancellationToken.None);
        var deadline = DateTime.UtcNow + s_bound;
        while ((await sandbox.ListWorkloadProcessesAsync(CancellationToken.None)).Count > 0 && DateTime.UtcNow < deadline)
            await Task.Delay(50);
        Assert.Empty(await sandbox.ListWorkloadProcessesAsync(CancellationToken.None));
        Assert.False(sandbox.Terminated.IsCompleted);
        Assert.Equal("ok\n", await Exec(sandbox, "echo ok"));
    }

    [Fact]
    public async Task Container_dispose_reports_disposed_not_a_crash()
    {
        var sandbox = await Harness.Driver.CreateAsync(new SandboxSpec(), CancellationToken.None);
        await sandbox.DisposeAsync();
        var end = await sandbox.Terminated.WaitAsync(s_bound);
        Assert.Equal(SandboxTerminationReason.Disposed, end.Reason);
    }

    [Fact]
    public async Task Container_signal_outside_1_to_64_is_refused()
    {
        await using var sandbox = await Harness.Driver.CreateAsync(new SandboxSpec(), CancellationToken.None);
        foreach (var signal in new[] { 0, -9, 65 })
        {
            var e = await Assert.ThrowsAsync<SandboxException>(() => sandbox.SignalAsync(signal, CancellationToken.None));
            Assert.Equal(SandboxErrorCode.InvalidArgument, e.Code);
            Assert.Contains($"signal {signal}", e.Message);
        }
    }

    [Fact]
    public async Task Container_limit_update_reaches_the_cgroup_and_fixed_limits_are_refused()
    {
        await using var sandbox = await Harness.Driver.CreateAsync(new SandboxSpec(), CancellationToken.None);
        var limits = sandbox.Info.Limits with { MemoryMiB = 100, PidsMax = 50 };
        await sandbox.UpdateLimitsAsync(limits, CancellationToken.None);
        var dir = sandbox.Info.CgroupPath!;
        var memory = File.Exists(Path.Combine(dir, "memory.max")) ? "memory.max" : "memory.limit_in_bytes";
        Assert.Equal(100L << 20, long.Parse(File.ReadAllText(Path.Combine(dir, memory)).Trim()));
        Assert.Equal(limits, sandbox.Info.Limits);

        var e = await Assert.ThrowsAsync<SpecValidationException>(() =>
            sandbox.UpdateLimitsAsync(limits with { DiskMiB = limits.DiskMiB + 1, PidsMax = 10_000 }, CancellationToken.None));
        Assert.Contains("disk_mib cannot change", e.Message);
        Assert.Contains("pids cannot rise above", e.Message);
        e = await Assert.ThrowsAsync<SpecValidationException>(() => sandbox.UpdateLimitsAsync(limits with { MemoryMiB = 1 }, CancellationToken.None));
        Assert.Contains("memory_mib 1", e.Message);
    }

    [Fact]
    public async Task MicroVm_pause_stops_the_vcpus_and_its_death_is_reported()
    {
        var driver = Harness.VmDriver;
        var sandbox = await driver.CreateAsync(new SandboxSpec(), CancellationToken.None);
        try
        {
            var vm = ((MicroVmSandbox)sandbox).Instance;
            Assert.True(driver.Capabilities.HasFlag(DriverCapabilities.Pause));
            await sandbox.PauseAsync(CancellationToken.None);
            Assert.False((await vm.Qmp.QueryStatusAsync(CancellationToken.None)).Running);
            await sandbox.ResumeAsync(CancellationToken.None);
            Assert.True((await vm.Qmp.QueryStatusAsync(CancellationToken.None)).Running);
            Assert.Equal("ok\n", await Exec(sandbox, "echo ok"));

            var e = await Assert.ThrowsAsync<SandboxException>(() => sandbox.UpdateLimitsAsync(sandbox.Info.Limits, CancellationToken.None));
            Assert.Equal(SandboxErrorCode.Unimplemented, e.Code);
            Assert.False(driver.Capabilities.HasFlag(DriverCapabilities.UpdateLimits));

            // Killed from outside: the sandbox reports its death with QEMU's status.
            Assert.False(sandbox.Terminated.IsCompleted);
            vm.Qemu.Kill();
            var end = await sandbox.Terminated.WaitAsync(s_bound);
            Assert.Equal(SandboxTerminationReason.ProcessExited, end.Reason);
            Assert.Equal(128 + Libc.SIGKILL, end.ExitStatus);
        }
        finally
        {
            await sandbox.DisposeAsync();
        }
    }
}
