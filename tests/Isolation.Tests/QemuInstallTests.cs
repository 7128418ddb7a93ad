using Sandbox.Isolation.MicroVm;

namespace Sandbox.Isolation.Tests;

/// <summary>A QEMU in a prefix of its own (Debian's backported QEMU 10 unpacked into /opt/qemu10): the jail binds the
/// prefix, QEMU gets the prefix's firmware and modules, and its snapshot templates are its own. Real files under a
/// root-owned temporary directory; the test process is root. (That it boots: tests/E2E BackportedQemuTests.)</summary>
public sealed class QemuInstallTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("sandbox-qemuinstall-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Prefix(bool firmware = true)
    {
        var usr = Path.Combine(_dir, "usr");
        Directory.CreateDirectory(Path.Combine(usr, "bin"));
        File.WriteAllText(Path.Combine(usr, "bin", "qemu-system-x86_64"), "");
        File.SetUnixFileMode(Path.Combine(usr, "bin", "qemu-system-x86_64"), (UnixFileMode)0b111_101_101);
        if (firmware)
        {
            Directory.CreateDirectory(Path.Combine(usr, "share", "qemu"));
            File.WriteAllText(Path.Combine(usr, "share", "qemu", "qboot.rom"), "");
            Directory.CreateDirectory(Path.Combine(usr, "lib", "x86_64-linux-gnu", "qemu"));
        }
        return usr;
    }

    private static QemuCommandLine Cmd(string qemu, QemuInstall install) => new()
    {
        QemuPath = qemu,
        FirmwareDirectory = install.FirmwareDirectory,
        Bios = install.Bios,
        Accelerator = Accelerator.Tcg,
        MemoryMiB = 256,
        VCpus = 1,
        KernelPath = "/k/vmlinux",
        InitrdPath = "/k/initrd",
        KernelCommandLine = "console=ttyS0",
        AgentSocketPath = "/tmp/a/agent.sock",
        QmpSocketPath = "/tmp/a/qmp.sock",
    };

    [Fact]
    public void The_default_is_the_installed_backports_qemu_where_it_exists_and_the_systems_otherwise()
    {
        var installed = Path.Combine(Prefix(), "bin", "qemu-system-x86_64");
        Assert.Equal(installed, QemuInstall.PickDefault(installed, QemuInstall.SystemBinary));
        File.Delete(installed);
        Assert.Equal(QemuInstall.SystemBinary, QemuInstall.PickDefault(installed, QemuInstall.SystemBinary));
        // The tier's own default is that choice between the two fixed paths.
        Assert.Equal(File.Exists(QemuInstall.BackportsBinary) ? QemuInstall.BackportsBinary : QemuInstall.SystemBinary, new MicroVmOptions().QemuPath);
    }

    [Fact]
    public void The_system_qemu_needs_nothing_beyond_usr()
    {
        var install = QemuInstall.Locate("/usr/bin/qemu-system-x86_64");
        Assert.Null(install.Prefix);
        Assert.Empty(install.Binds);
        Assert.Null(install.FirmwareDirectory);
        Assert.Null(install.Bios);
        Assert.Null(install.ModuleDirectory);
        var argv = Cmd("/usr/bin/qemu-system-x86_64", install).ToArgv();
        Assert.DoesNotContain("-L", argv);
        Assert.DoesNotContain("-bios", argv);
    }

    [Fact]
    public void A_prefixed_qemu_gets_its_prefix_in_the_jail_and_its_own_firmware_and_modules()
    {
        var usr = Prefix();
        var qemu = Path.Combine(usr, "bin", "qemu-system-x86_64");
        var install = QemuInstall.Locate(qemu, checkOwner: true);
        Assert.Equal(usr, install.Prefix);
        Assert.Equal(new[] { new JailBind(usr) }, install.Binds);
        var argv = Cmd(qemu, install).ToArgv().ToList();
        Assert.Equal(qemu, argv[0]);
        Assert.Equal(Path.Combine(usr, "share", "qemu"), argv[argv.IndexOf("-L") + 1]);
        // qboot, as the system QEMU's microvm machine loads: Debian's QEMU 10 would otherwise find the system's first.
        Assert.Equal(Path.Combine(usr, "share", "qemu", "qboot.rom"), argv[argv.IndexOf("-bios") + 1]);
        var jail = new VmmJail
        {
            BwrapPath = "/usr/bin/bwrap", SetprivPath = "/usr/bin/setpriv", HostUid = 200_001, Binds = [.. install.Binds],
            QemuModuleDirectory = install.ModuleDirectory,
        }.ToArgv(argv).ToList();
        Assert.Contains($"--ro-bind {usr} {usr}", string.Join(' ', jail));
        // Set after the jail clears the environment, and it is all QEMU gets.
        var setenv = jail.IndexOf("--setenv");
        Assert.True(jail.IndexOf("--clearenv") < setenv);
        Assert.Equal(["QEMU_MODULE_DIR", Path.Combine(usr, "lib", "x86_64-linux-gnu", "qemu")], jail.Skip(setenv + 1).Take(2));
        Assert.Single(jail, a => a == "--setenv");
    }

    [Fact]
    public void A_prefix_without_firmware_leaves_the_search_to_qemu()
    {
        var qemu = Path.Combine(Prefix(firmware: false), "bin", "qemu-system-x86_64");
        var install = QemuInstall.Locate(qemu);
        Assert.NotNull(install.Prefix);
        Assert.Null(install.FirmwareDirectory);
        Assert.Null(install.Bios);
        Assert.Null(install.ModuleDirectory);
    }

    [Fact]
    public void A_snapshot_template_is_only_ever_loaded_by_the_qemu_that_saved_it()
    {
        var usr = Prefix();
        var other = Path.Combine(usr, "bin", "qemu-system-x86_64");
        var system = Cmd("/usr/bin/qemu-system-x86_64", QemuInstall.Locate("/usr/bin/qemu-system-x86_64"));
        var backported = Cmd(other, QemuInstall.Locate(other));
        Assert.NotEqual(system.Identity(), backported.Identity());
        Assert.NotEqual(SnapshotTemplates.KeyFor(system.Identity(), ["/usr/bin/qemu-system-x86_64"]),
            SnapshotTemplates.KeyFor(backported.Identity(), [other]));
        // The same path replaced by another build (a package upgrade in place): the binary's size and time are in the key.
        var before = SnapshotTemplates.KeyFor(backported.Identity(), [other]);
        File.WriteAllText(other, "another build");
        Assert.NotEqual(before, SnapshotTemplates.KeyFor(backported.Identity(), [other]));
    }

    [Theory]
    [InlineData("qemu-system-x86_64")]
    [InlineData("/opt/qemu-system-x86_64")]
    [InlineData("/qemu10/qemu-system-x86_64")]
    [InlineData("/bin/qemu-system-x86_64")]
    public void A_path_of_no_known_shape_is_refused(string path)
    {
        var e = Assert.Throws<SandboxException>(() => QemuInstall.Locate(path));
        Assert.Contains(path, e.Message);
    }

    [Fact]
    public void A_qemu_others_could_replace_is_refused()
    {
        var usr = Prefix();
        var qemu = Path.Combine(usr, "bin", "qemu-system-x86_64");
        File.SetUnixFileMode(Path.Combine(usr, "bin"), (UnixFileMode)0b111_111_111);
        var e = Assert.Throws<SandboxException>(() => QemuInstall.Locate(qemu, checkOwner: true));
        Assert.Contains("writable by no one else", e.Message);
        File.SetUnixFileMode(Path.Combine(usr, "bin"), (UnixFileMode)0b111_101_101);
        Assert.Equal(usr, QemuInstall.Locate(qemu, checkOwner: true).Prefix);
    }
}
