using System.Text;
using Sandbox.Isolation;
using Sandbox.Isolation.MicroVm;

namespace Sandbox.E2E;

/// <summary>The microVM tier on a QEMU installed in a prefix of its own (scripts/install-qemu-backports.sh, run by
/// bootstrap: Debian bookworm-backports' QEMU 10 in /opt/qemu10) beside the system's 7.2: where installed it is the
/// tier's default (so the whole microVM suite runs on it; SANDBOX_E2E_QEMU names another, Harness); it runs jailed
/// from its prefix with its own firmware and modules, cold-boots, restores from a template of its own (never one the
/// other QEMU saved) and runs processes, and the system's QEMU, the fallback, still does too.</summary>
[Collection(SerialCollection.Name)]
public sealed class BackportedQemuTests
{
    public const string Qemu = "/opt/qemu10/usr/bin/qemu-system-x86_64";

    private static MicroVmOptions Options(bool templates = true) => new()
    {
        AgentDirectory = Harness.AgentDirectory, BootTimeout = Harness.BootTimeout, QemuPath = Qemu, SnapshotTemplates = templates,
    };

    private static readonly MicroVmDriver s_driver = new(Options());

    private static readonly MicroVmDriver s_systemDriver = new(new MicroVmOptions
    {
        AgentDirectory = Harness.AgentDirectory, BootTimeout = TimeSpan.FromMinutes(4), QemuPath = QemuInstall.SystemBinary,
    });

    private static Task<string> Exec(ISandbox sandbox, string script) => Harness.ShOutputAsync(sandbox, script);

    [InstalledQemuFact]
    public async Task It_restores_from_a_template_of_its_own_and_runs_jailed_from_its_prefix_with_its_own_firmware()
    {
        await using var clone = (MicroVmSandbox)await s_driver.CreateAsync(new SandboxSpec(), CancellationToken.None);
        Assert.NotNull(clone.Template);
        Assert.Equal("hello\n", await Exec(clone, "echo hello"));
        // Guest processes keep their randomized addresses (the default) and the file system works both ways.
        Assert.Equal("2", (await Exec(clone, "cat /proc/sys/kernel/randomize_va_space")).Trim());
        await clone.WriteFileAsync("/work/f", "abc"u8.ToArray(), 0b110_100_100, CancellationToken.None);
        Assert.Equal("abc", Encoding.UTF8.GetString(await clone.ReadFileAsync("/work/f", 100, CancellationToken.None)));

        var pid = clone.Instance.QemuPid;
        Assert.Equal(Qemu, new FileInfo($"/proc/{pid}/exe").LinkTarget);
        var argv = File.ReadAllText($"/proc/{pid}/cmdline").Split('\0');
        var install = QemuInstall.Locate(Qemu);
        Assert.Equal(install.Bios, argv[Array.IndexOf(argv, "-bios") + 1]);
        Assert.Equal(install.FirmwareDirectory, argv[Array.IndexOf(argv, "-L") + 1]);
        Assert.Contains($"QEMU_MODULE_DIR={install.ModuleDirectory}", File.ReadAllText($"/proc/{pid}/environ").Split('\0'));
        // Jailed as the VM's own uid, with its prefix in the jail (the host userland's 9p shares bring /opt in whole
        // here anyway; a directory root's jail would hold only the prefix) and no more of the host than before.
        Assert.InRange(clone.Info.HostUid, s_driver.Options.HostUidBase, s_driver.Options.HostUidBase + s_driver.Options.HostUidCount - 1);
        Assert.Contains("CapBnd:\t0000000000000000", File.ReadAllText($"/proc/{pid}/status"));
        Assert.True(File.Exists($"/proc/{pid}/root{Qemu}"));
        Assert.False(File.Exists($"/proc/{pid}/root/etc/shadow"));
        // QEMU said nothing on its console's stderr (no deprecated option, no module of another build refused).
        Assert.DoesNotContain("qemu-system-x86_64:", clone.Instance.Console.ToString());

        // The system QEMU (the tier's fallback where this one is not installed) still restores and runs, from a
        // template of its own: a snapshot is loaded only by the QEMU that saved it.
        await using var system = (MicroVmSandbox)await s_systemDriver.CreateAsync(new SandboxSpec(), CancellationToken.None);
        Assert.NotNull(system.Template);
        Assert.NotEqual(system.Template, clone.Template);
        Assert.Equal(QemuInstall.SystemBinary, new FileInfo($"/proc/{system.Instance.QemuPid}/exe").LinkTarget);
        Assert.Equal("ok\n", await Exec(system, "echo ok"));
    }

    [InstalledQemuFact]
    public void It_is_the_tiers_default_where_installed()
    {
        Assert.Equal(Qemu, new MicroVmOptions().QemuPath);
        if (Environment.GetEnvironmentVariable("SANDBOX_E2E_QEMU") is not { Length: > 0 })
            Assert.Equal(Qemu, Harness.VmDriver.Options.QemuPath);
    }

    [InstalledQemuFact]
    public async Task It_cold_boots_and_leaves_nothing_behind()
    {
        var driver = new MicroVmDriver(Options(templates: false));
        var spec = new SandboxSpec();
        var vm = (MicroVmSandbox)await driver.CreateAsync(spec, CancellationToken.None);
        try
        {
            Assert.Null(vm.Template);
            Assert.Equal("cold\n", await Exec(vm, "echo cold"));
        }
        finally
        {
            await vm.DisposeAsync();
        }
        Assert.Empty(Harness.CgroupLeftovers(spec.Id));
        Assert.False(Directory.Exists(vm.Instance.Directory), $"{vm.Instance.Directory} left behind");
    }
}

/// <summary>Skipped, with the reason, where QEMU 10 is not installed in /opt/qemu10 (scripts/install-qemu-backports.sh;
/// bootstrap runs it, and where the mirror or the install failed the tier's default is the system's QEMU).</summary>
public sealed class InstalledQemuFactAttribute : FactAttribute
{
    public InstalledQemuFactAttribute()
    {
        if (!File.Exists(BackportedQemuTests.Qemu))
            Skip = $"no QEMU at {BackportedQemuTests.Qemu} (scripts/install-qemu-backports.sh, run by bootstrap, installs bookworm-backports' QEMU 10 there; the tier runs the system's)";
    }
}
