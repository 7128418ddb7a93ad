using Sandbox.Isolation.MicroVm;

namespace Sandbox.Isolation.Tests;

/// <summary>A microVM's host mounts as 9p shares: what the VMM jail binds where, what QEMU exports read-only or not,
/// what the guest is told; sources through a symlink or of another file type refused naming them. (The mounts seen in
/// a real guest: tests/Shim.Tests MicroVmBindTests.)</summary>
public sealed class HostMountSharesTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("host-mounts-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void A_directory_is_exported_as_is_a_file_alone_read_write_only_when_asked()
    {
        var file = Path.Combine(_dir, "f");
        File.WriteAllText(file, "x");
        var (shares, guest) = HostMountShares.For([new HostMount(_dir, "/d"), new HostMount(file, "/f", ReadOnly: false)], "/run/vm/sb-1");

        Assert.Equal(new VirtioShare("bind0", "/run/vm/sb-1/bind-0", false, new JailBind(_dir, false, "/run/vm/sb-1/bind-0")), shares[0]);
        Assert.Equal(new VirtioShare("bind1", "/run/vm/sb-1/bind-1", true, new JailBind(file, true, "/run/vm/sb-1/bind-1/file")), shares[1]);
        Assert.Equal(("bind0", "/d", "", false), (guest[0].Tag, guest[0].Path, guest[0].Subpath, guest[0].Writable));
        Assert.Equal(("bind1", "/f", "file", true), (guest[1].Tag, guest[1].Path, guest[1].Subpath, guest[1].Writable));

        var argv = new QemuCommandLine
        {
            QemuPath = "/q", Accelerator = Accelerator.Tcg, MemoryMiB = 256, VCpus = 1, KernelPath = "/k", InitrdPath = "/i",
            KernelCommandLine = "console=ttyS0", AgentSocketPath = "/a.sock", QmpSocketPath = "/qmp.sock", Shares = shares,
        }.ToArgv();
        Assert.Contains("local,id=fs0,path=/run/vm/sb-1/bind-0,security_model=none,readonly=on", argv);
        Assert.Contains("local,id=fs1,path=/run/vm/sb-1/bind-1,security_model=none", argv);
    }

    [Fact]
    public void Symlinks_on_the_way_and_other_file_types_are_refused_naming_them()
    {
        var target = Directory.CreateDirectory(Path.Combine(_dir, "t")).FullName;
        var link = Path.Combine(_dir, "l");
        File.CreateSymbolicLink(link, target);
        var e = Assert.Throws<SandboxException>(() => HostMountShares.For([new HostMount(link, "/x")], "/run/vm/sb-1"));
        Assert.Contains($"{link} is a symlink (to {target})", e.Message);
        e = Assert.Throws<SandboxException>(() => HostMountShares.For([new HostMount(Path.Combine(link, "below"), "/x")], "/run/vm/sb-1"));
        Assert.Contains($"{link} is a symlink", e.Message);
        e = Assert.Throws<SandboxException>(() => HostMountShares.For([new HostMount("/dev/null", "/x")], "/run/vm/sb-1"));
        Assert.Contains("neither a directory nor a regular file", e.Message);
        e = Assert.Throws<SandboxException>(() => HostMountShares.For([new HostMount(Path.Combine(_dir, "missing"), "/x")], "/run/vm/sb-1"));
        Assert.Contains("cannot open it", e.Message);
    }

    [Theory]
    [InlineData("/srv/../etc", "/data", "the source must be an absolute host path without")]
    [InlineData("srv", "/data", "the source must be an absolute host path without")]
    [InlineData("/srv", "/", "the destination must be an absolute path without")]
    [InlineData("/srv", "/a/./b", "the destination must be an absolute path without")]
    [InlineData("/srv", "/proc/x", "the destination is the sandbox's own")]
    [InlineData("/srv", "/work/in", "the destination is the sandbox's own")]
    public void The_spec_validator_checks_host_mount_paths(string source, string destination, string message)
    {
        var e = Assert.Throws<SpecValidationException>(() => SpecValidator.Validate(new SandboxSpec { HostMounts = [new HostMount(source, destination)] }));
        Assert.Contains(e.Errors, m => m.Contains(message) && m.Contains($"host mount {source} → {destination}"));
    }

    [Fact]
    public void The_jail_binds_a_host_mount_where_the_share_is_after_the_state_directory()
    {
        var jail = new VmmJail
        {
            BwrapPath = "/usr/bin/bwrap", SetprivPath = "/usr/bin/setpriv", HostUid = 200_123,
            Binds = [new JailBind("/run/vm/sb-1", Writable: true), new JailBind("/srv/in/f.txt", At: "/run/vm/sb-1/bind-0/file"),
                new JailBind("/srv/out", Writable: true, At: "/run/vm/sb-1/bind-1")],
        };
        var text = string.Join(' ', jail.ToArgv(["/q"]));
        Assert.Contains("--ro-bind /srv/in/f.txt /run/vm/sb-1/bind-0/file", text);
        Assert.Contains("--bind /srv/out /run/vm/sb-1/bind-1", text);
        Assert.True(text.IndexOf("--bind /run/vm/sb-1 /run/vm/sb-1", StringComparison.Ordinal) < text.IndexOf("/srv/in/f.txt", StringComparison.Ordinal));
        Assert.DoesNotContain("--dir /srv", text);
    }
}
