using System.Text;
using Sandbox.Isolation;
using Sandbox.Isolation.MicroVm;

namespace Sandbox.E2E;

/// <summary>What only the microVM tier promises: its own kernel, no host devices, nothing of the host outside the
/// shares, fresh randomness per guest, an honest accelerator report, and nothing left behind.</summary>
[Collection(SerialCollection.Name)]
public sealed class MicroVmTests
{
    private static MicroVmDriver Driver => Harness.VmDriver;

    private static async Task<string> Exec(ISandbox sandbox, string script)
    {
        var stdout = new MemoryStream();
        var p = await sandbox.ExecAsync(Harness.Sh(script), new ProcessIO { Stdout = stdout }, CancellationToken.None);
        var status = await p.WaitAsync(CancellationToken.None);
        Assert.Equal(0, status.ExitCode);
        return Encoding.UTF8.GetString(stdout.ToArray());
    }

    [Fact]
    public async Task Guest_has_its_own_kernel_no_kvm_and_no_host_files()
    {
        await using var sandbox = await Driver.CreateAsync(new SandboxSpec(), CancellationToken.None);
        var output = await Exec(sandbox,
            "uname -r; test -e /dev/kvm && echo kvm || echo no-kvm; " +
            "for f in /etc/shadow /root /home /var /boot /work/../etc/sudoers; do test -e $f && echo seen:$f; done; " +
            "cat /proc/1/comm; echo done");
        var lines = output.Split('\n');
        Assert.NotEqual(File.ReadAllText("/proc/sys/kernel/osrelease").Trim(), lines[0]);
        Assert.Equal("no-kvm", lines[1]);
        Assert.DoesNotContain("seen:", output);
        Assert.Equal(SandboxTier.MicroVm, sandbox.Info.Tier);
        var probe = await Driver.ProbeAcceleratorAsync(CancellationToken.None);
        Assert.Equal(probe.Accelerator, sandbox.Info.Accelerator);
    }

    [Fact]
    public async Task Two_sandboxes_read_different_random_bytes()
    {
        await using var a = await Driver.CreateAsync(new SandboxSpec(), CancellationToken.None);
        await using var b = await Driver.CreateAsync(new SandboxSpec(), CancellationToken.None);
        var script = "head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \\n'";
        var ra = await Exec(a, script);
        var rb = await Exec(b, script);
        Assert.Equal(64, ra.Length);
        Assert.NotEqual(ra, rb);
    }

    [Fact]
    public async Task Requiring_hardware_virtualization_is_refused_under_tcg()
    {
        var probe = await Driver.ProbeAcceleratorAsync(CancellationToken.None);
        if (probe.Accelerator == Accelerator.Kvm)
            return; // KVM works here: the requirement is met, nothing to refuse.
        var e = await Assert.ThrowsAsync<SandboxException>(() =>
            Driver.CreateAsync(new SandboxSpec { RequireHardwareVirtualization = true }, CancellationToken.None));
        Assert.Equal(SandboxErrorCode.FailedPrecondition, e.Code);
        Assert.Contains("TCG", e.Message);
    }

    [Fact]
    public async Task Dispose_leaves_no_qemu_cgroup_or_temp_dir()
    {
        var before = QemuChildren();
        var spec = new SandboxSpec();
        var sandbox = await Driver.CreateAsync(spec, CancellationToken.None);
        var vm = (MicroVmSandbox)sandbox;
        Assert.Single(QemuChildren().Except(before));
        await sandbox.DisposeAsync();
        await sandbox.DisposeAsync(); // idempotent
        Assert.Empty(QemuChildren().Except(before));
        Assert.Empty(Harness.CgroupLeftovers(spec.Id));
        Assert.False(Directory.Exists(vm.Instance.Directory), $"{vm.Instance.Directory} left behind");
    }

    private static IReadOnlyList<int> QemuChildren()
    {
        var me = Environment.ProcessId.ToString();
        var result = new List<int>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var pid)) continue;
            try
            {
                var stat = File.ReadAllText(Path.Combine(dir, "stat"));
                var close = stat.LastIndexOf(')');
                var comm = stat[(stat.IndexOf('(') + 1)..close];
                var ppid = stat[(close + 2)..].Split(' ')[1];
                if (ppid == me && comm.StartsWith("qemu", StringComparison.Ordinal)) result.Add(pid);
            }
            catch (IOException)
            {
            }
        }
        return result;
    }
}
