using Sandbox.Isolation.Container;

namespace Sandbox.Isolation.MicroVm;

/// <summary>A host path QEMU may use inside its jail, at the same path or at <paramref name="At"/>; <paramref name="Writable"/>
/// for the VM's state directory, the RAM file of a template being built (never for a clone: its RAM comes as a sealed
/// memfd) and a host mount asked read-write.</summary>
public sealed record JailBind(string Path, bool Writable = false, string? At = null)
{
    public string Destination => At ?? Path;
}

/// <summary>
/// The jail QEMU runs in (what Firecracker's jailer does, with bubblewrap): bwrap, started as root, gives QEMU new
/// mount, pid, network, IPC, UTS and cgroup namespaces, a read-only tmpfs root that holds only the host's /usr (QEMU,
/// its libraries and firmware), a minimal /dev, its own /proc, and exactly the files this VM uses (kernel, initramfs,
/// 9p share directories, its state directory, the RAM file of a template being built), each at its host path so the QEMU command line
/// is unchanged. setpriv then drops to the VM's own unprivileged host uid (from the container tier's range) with an
/// empty capability bounding set and no_new_privs before exec'ing QEMU, which becomes PID 1 of its pid namespace;
/// QEMU's own seccomp filter (-sandbox on) follows. A QEMU bug is then that uid in an empty namespace set, not host
/// root: its 9p server checks file access as that uid, and the network namespace has nothing but loopback (a netdev
/// for egress or a CNI pod's tap descriptor is added by whoever gives the VM one).
/// </summary>
internal sealed record VmmJail
{
    /// <summary>The descriptor a read-only root image is passed to QEMU on (-add-fd fd=N): QEMU never opens the image
    /// by path, so the root-only image file needs no permission for the VM's uid. (bwrap's status and block sockets are
    /// 4 and 5.)</summary>
    public const int RootImageFd = 6;

    /// <summary>The descriptor a restored clone's guest RAM comes in on: the template's sealed memfd
    /// (<see cref="TemplateRam"/>), which QEMU opens as <see cref="TemplateRamPath"/> (its own /proc).</summary>
    public const int TemplateRamFd = 7;

    public static readonly string TemplateRamPath = $"/proc/self/fd/{TemplateRamFd}";

    /// <summary>The descriptor a CNI pod's tap comes in on (<see cref="Network.PodNetworkTap"/>, opened by the host in
    /// the pod's namespace): QEMU's -netdev tap,fd=N uses it as is, so the jail's own network namespace stays empty.</summary>
    public const int TapFd = 8;

    public required string BwrapPath { get; init; }
    public required string SetprivPath { get; init; }
    public required int HostUid { get; init; }
    public required IReadOnlyList<JailBind> Binds { get; init; }

    /// <summary>Kill QEMU when its owner dies (bwrap --die-with-parent); off for VMs that outlive their owner.</summary>
    public bool DieWithParent { get; init; }

    /// <summary>QEMU may get transparent huge pages where it asks for them (<see cref="MicroVmOptions.TranslationBufferHugePages"/>);
    /// false spawns it with THP off (<see cref="NoTransparentHugePages"/>).</summary>
    public bool TransparentHugePages { get; init; }

    /// <summary>QEMU_MODULE_DIR in the jail: the module directory of a QEMU installed in a prefix of its own
    /// (<see cref="QemuInstall.ModuleDirectory"/>, bound with its prefix); null = QEMU's built-in one.</summary>
    public string? QemuModuleDirectory { get; init; }

    /// <summary>/dev/kvm is bound in and QEMU gets its group (KVM accelerator).</summary>
    public int? KvmGroup { get; init; }

    /// <summary>The namespaces the jail gives QEMU.</summary>
    public static readonly IReadOnlyList<string> Namespaces = ["mount", "pid", "net", "ipc", "uts", "cgroup"];

    /// <summary>bwrap's whole command line (its options inline).</summary>
    public IReadOnlyList<string> ToArgv(IReadOnlyList<string> qemuArgv) => [BwrapPath, .. Options(), "--", .. Command(qemuArgv)];

    /// <summary>The command line with bwrap's options on a socket (<see cref="BwrapOptionsGate"/>, read from
    /// <see cref="BwrapFds.Args"/>) that holds bwrap until the host has placed it in the VM's cgroup: bwrap clones the
    /// jail, and with it the jail's cgroup namespace, only after it has read them to EOF, so that namespace is rooted at
    /// the VM's own cgroup (QEMU's /proc/self/cgroup shows "/", never the engine's cgroup path or the VM's id).</summary>
    public (byte[] Options, IReadOnlyList<string> Argv) ToGatedArgv(IReadOnlyList<string> qemuArgv) =>
        (System.Text.Encoding.UTF8.GetBytes(string.Concat(Options().Select(a => a + "\0"))),
            [BwrapPath, "--args", BwrapFds.Args.ToString(), "--", .. Command(qemuArgv)]);

    private List<string> Options()
    {
        if (HostUid <= 0)
            throw new SandboxException(SandboxErrorCode.Internal, $"the VMM jail needs an unprivileged host uid, not {HostUid}");
        var argv = new List<string>
        {
            "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup",
            // QEMU needs none of the engine's environment, and a compromised VMM should not read the daemon's.
            "--as-pid-1", "--new-session", "--clearenv",
        };
        if (DieWithParent)
            argv.Add("--die-with-parent");
        if (QemuModuleDirectory is not null)
            argv.AddRange(["--setenv", "QEMU_MODULE_DIR", QemuModuleDirectory]);
        argv.AddRange(["--ro-bind", "/usr", "/usr"]);
        // Debian's /bin, /lib, /lib64, /sbin are links into /usr (merged /usr); elsewhere they are directories.
        foreach (var name in new[] { "bin", "sbin", "lib", "lib64" })
        {
            var info = new DirectoryInfo("/" + name);
            if (info.LinkTarget is { } target)
                argv.AddRange(["--symlink", target, "/" + name]);
            else if (info.Exists)
                argv.AddRange(["--ro-bind", "/" + name, "/" + name]);
        }
        argv.AddRange(["--ro-bind-try", "/etc/ld.so.cache", "/etc/ld.so.cache", "--dev", "/dev", "--proc", "/proc"]);
        if (KvmGroup is not null)
            argv.AddRange(["--dev-bind", "/dev/kvm", "/dev/kvm"]);
        // bwrap makes a bind's missing parents root-only (0700): QEMU's uid must be able to walk them.
        var parents = Binds.SelectMany(b => Ancestors(b.Destination)).Distinct(StringComparer.Ordinal)
            .OrderBy(p => p.Count(c => c == '/')).ThenBy(p => p, StringComparer.Ordinal);
        foreach (var parent in parents)
            argv.AddRange(["--perms", "0755", "--dir", parent]);
        foreach (var bind in Binds)
            argv.AddRange([bind.Writable ? "--bind" : "--ro-bind", bind.Path, bind.Destination]);
        argv.AddRange(["--remount-ro", "/", "--chdir", "/",
            "--json-status-fd", BwrapFds.Status.ToString(), "--block-fd", BwrapFds.Block.ToString()]);
        return argv;
    }

    /// <summary>What bwrap runs in the jail: setpriv's drop to the VM's uid, then QEMU.</summary>
    private List<string> Command(IReadOnlyList<string> qemuArgv) =>
    [
        SetprivPath, $"--reuid={HostUid}", $"--regid={HostUid}",
        KvmGroup is { } kvm ? $"--groups={kvm}" : "--clear-groups",
        "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs", "--", .. qemuArgv,
    ];

    /// <summary>/a, /a/b for /a/b/c; none under /usr (bound whole) and never "/".</summary>
    private static IEnumerable<string> Ancestors(string path)
    {
        for (var parent = Path.GetDirectoryName(path); parent is not null && parent != "/"; parent = Path.GetDirectoryName(parent))
        {
            if (parent == "/usr" || parent.StartsWith("/usr/", StringComparison.Ordinal)) yield break;
            yield return parent;
        }
    }
}
