using Sandbox.Isolation.MicroVm;

namespace Sandbox.Isolation.Tests;

/// <summary>The jail's command line: namespaces, the files bound in, and the drop to the VM's uid before QEMU runs.
/// (That a real QEMU runs so: tests/E2E MicroVmTests.Qemu_runs_jailed_as_an_unprivileged_uid_of_its_own.)</summary>
public sealed class VmmJailTests
{
    private static VmmJail Jail(int uid = 200_123, int? kvm = null) => new()
    {
        BwrapPath = "/usr/bin/bwrap",
        SetprivPath = "/usr/bin/setpriv",
        HostUid = uid,
        Binds = [new JailBind("/var/cache/sandbox/kernel/vmlinux"), new JailBind("/run/sandbox/vm/sb-1", Writable: true)],
        KvmGroup = kvm,
    };

    [Fact]
    public void Qemu_runs_in_new_namespaces_as_the_vms_uid_with_only_its_files()
    {
        var argv = Jail().ToArgv(["/usr/bin/qemu-system-x86_64", "-M", "microvm"]);
        foreach (var ns in new[] { "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup" })
            Assert.Contains(ns, argv);
        Assert.Contains("--as-pid-1", argv);
        Assert.DoesNotContain("--die-with-parent", argv);
        Assert.DoesNotContain("/dev/kvm", argv);
        var text = string.Join(' ', argv);
        Assert.Contains("--ro-bind /var/cache/sandbox/kernel/vmlinux /var/cache/sandbox/kernel/vmlinux", text);
        Assert.Contains("--bind /run/sandbox/vm/sb-1 /run/sandbox/vm/sb-1", text);
        // Parents bwrap would make root-only are made walkable, outermost first.
        Assert.True(text.IndexOf("--perms 0755 --dir /run ", StringComparison.Ordinal) < text.IndexOf("--perms 0755 --dir /run/sandbox/vm ", StringComparison.Ordinal));
        Assert.DoesNotContain("/etc/shadow", text);
        Assert.DoesNotContain("--bind / /", text);
        // setpriv, then QEMU: the last thing before QEMU drops every privilege.
        var qemu = argv.ToList().IndexOf("/usr/bin/qemu-system-x86_64");
        Assert.Equal(["/usr/bin/setpriv", "--reuid=200123", "--regid=200123", "--clear-groups", "--inh-caps=-all", "--bounding-set=-all",
            "--no-new-privs", "--"], argv.Skip(qemu - 8).Take(8));
        Assert.Equal(["-M", "microvm"], argv.Skip(qemu + 1));
    }

    [Fact]
    public void Gated_the_options_go_on_the_args_socket_and_only_the_command_stays_on_the_line()
    {
        var (options, argv) = Jail().ToGatedArgv(["/q", "-x"]);
        Assert.Equal(["/usr/bin/bwrap", "--args", "10", "--", "/usr/bin/setpriv"], argv.Take(5));
        Assert.Equal(["/q", "-x"], argv.TakeLast(2));
        var text = System.Text.Encoding.UTF8.GetString(options);
        Assert.EndsWith("\0", text);
        var parsed = text.Split('\0')[..^1];
        // The same options as inline, up to the end of bwrap's own.
        Assert.Equal(Jail().ToArgv(["/q", "-x"]).Skip(1).Take(parsed.Length), parsed);
        Assert.Equal("--", Jail().ToArgv(["/q", "-x"])[parsed.Length + 1]);
        Assert.Contains("--unshare-cgroup", parsed);
        Assert.DoesNotContain("/q", parsed);
        Assert.DoesNotContain("/usr/bin/setpriv", parsed);
    }

    [Fact]
    public void Qemu_gets_none_of_the_engines_environment()
    {
        var argv = Jail().ToArgv(["/q"]).ToList();
        Assert.Contains("--clearenv", argv);
        Assert.DoesNotContain("--setenv", argv);
        Assert.True(argv.IndexOf("--clearenv") < argv.IndexOf("/usr/bin/setpriv"));
    }

    [Fact]
    public void Kvm_binds_the_device_and_joins_its_group_only()
    {
        var argv = Jail(kvm: 108).ToArgv(["/q"]);
        Assert.Contains("--groups=108", argv);
        Assert.DoesNotContain("--clear-groups", argv);
        Assert.Contains("/dev/kvm", argv);
    }

    [Fact]
    public void Root_is_refused()
    {
        var e = Assert.Throws<SandboxException>(() => Jail(uid: 0).ToArgv(["/q"]));
        Assert.Contains("unprivileged host uid", e.Message);
    }
}
