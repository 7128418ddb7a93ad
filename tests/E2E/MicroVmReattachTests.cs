using System.Text;
using System.Text.Json.Nodes;
using Sandbox.Isolation;
using Sandbox.Isolation.MicroVm;

namespace Sandbox.E2E;

/// <summary>A microVM created with DieWithOwner = false outlives its owner: QEMU keeps running, the guest keeps its
/// processes and files, and a new driver instance (what a restarted sandboxd has) takes it back from the opaque
/// attachment record. A record that no longer names that QEMU takes nothing back and leaves nothing behind.</summary>
public sealed class MicroVmReattachTests
{
    private static async Task<string> Exec(ISandbox sandbox, string script)
    {
        var stdout = new MemoryStream();
        var stderr = new MemoryStream();
        var p = await sandbox.ExecAsync(Harness.Sh(script), new ProcessIO { Stdout = stdout, Stderr = stderr }, CancellationToken.None);
        var status = await p.WaitAsync(CancellationToken.None);
        Assert.True(status.ExitCode == 0, $"exit {status.ExitCode}: {Encoding.UTF8.GetString(stderr.ToArray())}");
        return Encoding.UTF8.GetString(stdout.ToArray());
    }

    /// <summary>Whether that QEMU still runs: its pid with its start time, since a pid seen at boot may name another
    /// process by the time the test looks again (pids are reused on a busy host).</summary>
    private static bool Alive(Sandbox.Tests.Common.HostProcess.Identity qemu) => Sandbox.Tests.Common.HostProcess.IsLive(qemu);

    private static Sandbox.Tests.Common.HostProcess.Identity Identify(int pid) =>
        Sandbox.Tests.Common.HostProcess.Identify(pid) ?? throw new Xunit.Sdk.XunitException($"QEMU {pid} is gone already");

    [Fact]
    public async Task MicroVm_is_taken_back_by_a_new_driver_after_its_owner_let_go()
    {
        var spec = new SandboxSpec { DieWithOwner = false };
        var owner = new MicroVmDriver(new MicroVmOptions { AgentDirectory = Harness.AgentDirectory, BootTimeout = Harness.BootTimeout });
        var sandbox = await owner.CreateAsync(spec, CancellationToken.None);
        var vm = (MicroVmSandbox)sandbox;
        var qemu = Identify(vm.Instance.QemuPid);
        var stateDir = vm.Instance.Directory;
        try
        {
            Assert.StartsWith(owner.Options.StateDirectory + "/", stateDir);
            Assert.DoesNotContain("/tmp/", stateDir);
            await Exec(sandbox, "echo before-restart > /work/marker; sleep 600 >/dev/null 2>&1 & echo $! > /work/sleeper");
            var attachment = sandbox.Attachment;
            Assert.NotNull(attachment);
            Assert.Equal(SandboxTier.MicroVm, attachment.Tier);

            // The owner goes away (its QMP, agent and console connections close) as if it had been killed.
            await vm.AbandonAsync();
            Assert.True(Alive(qemu), "QEMU must outlive its owner");

            var restarted = new MicroVmDriver(new MicroVmOptions { AgentDirectory = Harness.AgentDirectory, BootTimeout = Harness.BootTimeout });
            await using var back = await restarted.AttachAsync(spec.Id, attachment, CancellationToken.None);
            Assert.Equal("before-restart\n", await Exec(back, "cat /work/marker"));
            // The process started under the first owner is still running in the guest.
            Assert.Equal("alive\n", await Exec(back, "kill -0 $(cat /work/sleeper) && echo alive"));
            Assert.Equal(SandboxTier.MicroVm, back.Info.Tier);
            Assert.False(back.Terminated.IsCompleted);
            await back.DisposeAsync();
            Assert.False(Alive(qemu));
            Assert.False(Directory.Exists(stateDir));
            Assert.Empty(Harness.CgroupLeftovers(spec.Id));
        }
        finally
        {
            await owner.ReclaimAsync(spec.Id, CancellationToken.None);
        }
    }

    [Fact]
    public async Task Start_up_reclaims_what_a_killed_owner_left_of_a_vm_that_died_meanwhile()
    {
        var spec = new SandboxSpec { DieWithOwner = false };
        // A state directory of its own: RemoveStaleFiles below removes every VM directory it is not told to keep, and
        // other tests' VMs run beside this one.
        var options = new MicroVmOptions { AgentDirectory = Harness.AgentDirectory, BootTimeout = Harness.BootTimeout, StateDirectory = Directory.CreateTempSubdirectory("vmstate-reclaim-test-").FullName };
        var owner = new MicroVmDriver(options);
        var vm = (MicroVmSandbox)await owner.CreateAsync(spec, CancellationToken.None);
        var qemu = Identify(vm.Instance.QemuPid);
        var stateDir = vm.Instance.Directory;
        var hostUid = vm.Info.HostUid;
        try
        {
            // The owner is killed (kill -9 of sandboxd), then its VM dies too (e.g. the host's OOM killer takes QEMU).
            await vm.AbandonAsync();
            using (var pidfd = Sandbox.Isolation.Native.PidfdHandle.Open(qemu.Pid))
            {
                var gone = Sandbox.Isolation.Native.ProcessWatcher.WatchAsync(pidfd, reap: false);
                Assert.True(pidfd.Signal(Sandbox.Isolation.Interop.Libc.SIGKILL));
                await gone.WaitAsync(TimeSpan.FromSeconds(30));
            }
            Assert.False(Alive(qemu));
            Assert.True(Directory.Exists(stateDir));

            // What a restarted sandboxd does at start-up: reclaim the leftovers it has no record of, remove stale files.
            var restarted = new MicroVmDriver(options);
            Assert.Contains(spec.Id, restarted.ListLeftovers());
            Assert.True(await restarted.ReclaimAsync(spec.Id, CancellationToken.None));
            restarted.RemoveStaleFiles(new HashSet<SandboxId>());
            Assert.False(Directory.Exists(stateDir));
            Assert.Empty(Harness.CgroupLeftovers(spec.Id));
            Assert.DoesNotContain(spec.Id, restarted.ListLeftovers());
            Assert.Empty(Directory.EnumerateFileSystemEntries("/tmp", "sandbox-vm-*"));
            // Nothing of the jail is left either: no bwrap or QEMU of that VM's uid working on its state directory (the
            // uid is free again once reclaimed, and a VM of a test running beside this one may already have it).
            Assert.DoesNotContain(Directory.EnumerateDirectories("/proc").Where(d => int.TryParse(Path.GetFileName(d), out _)), d =>
            {
                try
                {
                    return File.ReadLines(Path.Combine(d, "status")).Any(l => l.StartsWith("Uid:", StringComparison.Ordinal) && l.Split('\t')[1] == hostUid.ToString())
                        && File.ReadAllText(Path.Combine(d, "cmdline")).Contains(stateDir, StringComparison.Ordinal);
                }
                catch (IOException) { return false; }
            });
        }
        finally
        {
            await owner.ReclaimAsync(spec.Id, CancellationToken.None);
            Directory.Delete(options.StateDirectory, recursive: true);
        }
    }

    [Fact]
    public async Task Record_that_names_another_process_takes_nothing_back_and_leaves_nothing()
    {
        var spec = new SandboxSpec { DieWithOwner = false };
        var owner = new MicroVmDriver(new MicroVmOptions { AgentDirectory = Harness.AgentDirectory, BootTimeout = Harness.BootTimeout });
        var sandbox = await owner.CreateAsync(spec, CancellationToken.None);
        var vm = (MicroVmSandbox)sandbox;
        var qemu = Identify(vm.Instance.QemuPid);
        var stateDir = vm.Instance.Directory;
        try
        {
            var attachment = sandbox.Attachment!;
            await vm.AbandonAsync();
            // What pid reuse looks like: the pid names a process with another start time.
            var payload = JsonNode.Parse(attachment.Payload)!;
            payload["qemu_start_time"] = payload["qemu_start_time"]!.GetValue<ulong>() + 1;
            var forged = attachment with { Payload = payload.ToJsonString() };

            var restarted = new MicroVmDriver(new MicroVmOptions { AgentDirectory = Harness.AgentDirectory, BootTimeout = Harness.BootTimeout });
            var e = await Assert.ThrowsAsync<SandboxException>(() => restarted.AttachAsync(spec.Id, forged, CancellationToken.None));
            Assert.Equal(SandboxErrorCode.NotFound, e.Code);
            // Reclaimed through its cgroup: the real QEMU was in it, and its state directory is gone.
            Assert.False(Alive(qemu));
            Assert.False(Directory.Exists(stateDir));
            Assert.Empty(Harness.CgroupLeftovers(spec.Id));

            var elsewhere = attachment with { Payload = attachment.Payload.Replace(stateDir, "/tmp/elsewhere") };
            e = await Assert.ThrowsAsync<SandboxException>(() => restarted.AttachAsync(spec.Id, elsewhere, CancellationToken.None));
            Assert.Equal(SandboxErrorCode.InvalidArgument, e.Code);
        }
        finally
        {
            await owner.ReclaimAsync(spec.Id, CancellationToken.None);
        }
    }
}
