using Sandbox.AgentProtocol.V1;

namespace Sandbox.Isolation.MicroVm;

/// <summary>
/// A microVM's host mounts (<see cref="SandboxSpec.HostMounts"/>) as virtio-9p shares, the tier's one way for host
/// files into a guest. Mount N's source is bound by the VMM jail into <c>bind-N</c> of the VM's state directory — the
/// directory itself, or for a file a directory holding only it (<c>bind-N/file</c>), since 9p exports directories and
/// a sibling must not be reachable — read-only unless asked rw; QEMU exports <c>bind-N</c> (readonly=on likewise) as
/// the VM's unprivileged host uid, whose permissions on the source are what the guest gets; the agent binds it at the
/// destination (<see cref="GuestHostMount"/>). The source path is checked here: absolute, every component an existing
/// directory but the last, none a symlink (a path through one is refused naming it: give the real path), the last a
/// directory or regular file. bwrap binds that checked path when the jail starts; only whoever may change the path's
/// host directories (root, for paths a bundle names) could swap it in between. Such a VM cold-boots (a snapshot
/// template has no share for them).
/// </summary>
internal static class HostMountShares
{
    private const string FileName = "file";

    public static (IReadOnlyList<VirtioShare> Shares, IReadOnlyList<GuestHostMount> Guest) For(IReadOnlyList<HostMount> mounts, string stateDirectory)
    {
        var shares = new List<VirtioShare>();
        var guest = new List<GuestHostMount>();
        for (var i = 0; i < mounts.Count; i++)
        {
            var m = mounts[i];
            var isDirectory = CheckSource(m);
            var directory = Path.Combine(stateDirectory, $"bind-{i}");
            var tag = $"bind{i}";
            shares.Add(new VirtioShare(tag, directory, Writable: !m.ReadOnly,
                Bind: new JailBind(m.Source, Writable: !m.ReadOnly, At: isDirectory ? directory : Path.Combine(directory, FileName))));
            guest.Add(new GuestHostMount { Tag = tag, Path = m.Destination, Subpath = isDirectory ? "" : FileName, Writable = !m.ReadOnly });
        }
        return (shares, guest);
    }

    /// <summary>true for a directory, false for a regular file; anything else refused naming it.</summary>
    private static unsafe bool CheckSource(HostMount m)
    {
        var parts = m.Source.Split('/', StringSplitOptions.RemoveEmptyEntries);
        var path = "";
        foreach (var part in parts)
        {
            path += "/" + part;
            if (new FileInfo(path).LinkTarget is { } target)
                throw Refused(m, $"{path} is a symlink (to {target}): give the real path");
        }
        // O_NOFOLLOW: the last component is not a symlink now either; its type from the descriptor.
        var fd = Interop.Libc.Open(m.Source, O_PATH | Interop.Libc.O_NOFOLLOW | Interop.Libc.O_CLOEXEC);
        if (fd < 0)
            throw Refused(m, $"cannot open it: {System.Runtime.InteropServices.Marshal.GetPInvokeErrorMessage(Interop.Errno.Last)}");
        try
        {
            var stat = stackalloc byte[256];
            if (Interop.Libc.Fstat(fd, stat) != 0)
                throw Interop.Errno.Fail($"fstat({m.Source})");
            return (*(uint*)(stat + StModeOffset) & S_IFMT) switch
            {
                S_IFDIR => true,
                S_IFREG => false,
                _ => throw Refused(m, "it is neither a directory nor a regular file"),
            };
        }
        finally
        {
            Interop.Libc.Close(fd);
        }
    }

    private const int O_PATH = 0x200000;
    private const int StModeOffset = 24; // x86_64 struct stat: st_dev, st_ino, st_nlink (8 bytes each), st_mode
    private const uint S_IFMT = 0xF000, S_IFDIR = 0x4000, S_IFREG = 0x8000;

    private static SandboxException Refused(HostMount m, string why) =>
        new(SandboxErrorCode.InvalidArgument, $"host mount {m.Source} → {m.Destination}: {why}");
}
