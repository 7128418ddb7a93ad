using System.Runtime.InteropServices;
using Sandbox.Isolation;
using Sandbox.KataShim.Interop;
using ContainerdMount = Sandbox.KataShim.Protocol.Types.Mount;

namespace Sandbox.KataShim.Rootfs;

/// <summary>The rootfs mounts a snapshotter hands over in CreateTaskRequest.rootfs (overlay, bind), mounted in order
/// by the shim and unmounted on Delete and by the `delete` command. They are mounted under
/// <see cref="ShimPaths.RootfsFor"/>, not in the bundle: the bundle directory is 0700 root, and the container tier
/// reads the root as the sandbox's unprivileged host uid, which could not traverse it.</summary>
internal static class SnapshotMounts
{
    private static readonly Dictionary<string, (ulong Set, ulong Clear)> Flags = new(StringComparer.Ordinal)
    {
        ["ro"] = (Libc.MS_RDONLY, 0),
        ["rw"] = (0, Libc.MS_RDONLY),
        ["nosuid"] = (Libc.MS_NOSUID, 0),
        ["nodev"] = (Libc.MS_NODEV, 0),
        ["noexec"] = (Libc.MS_NOEXEC, 0),
        ["noatime"] = (Libc.MS_NOATIME, 0),
        ["nodiratime"] = (Libc.MS_NODIRATIME, 0),
        ["relatime"] = (Libc.MS_RELATIME, 0),
        ["bind"] = (Libc.MS_BIND, 0),
        ["rbind"] = (Libc.MS_BIND | Libc.MS_REC, 0),
    };

    private const int MaxOptionBytes = 4095;

    public static void MountAll(IReadOnlyList<ContainerdMount> mounts, string target)
    {
        Directory.CreateDirectory(target);
        var done = 0;
        try
        {
            foreach (var m in mounts)
            {
                MountOne(m, target);
                done++;
            }
        }
        catch
        {
            for (; done > 0; done--)
                Libc.Umount2(target, Libc.MNT_DETACH);
            throw;
        }
    }

    private static void MountOne(ContainerdMount m, string target)
    {
        if (m.Type is not ("overlay" or "bind" or "rbind"))
            throw new SandboxException(SandboxErrorCode.InvalidArgument,
                $"rootfs mount type '{m.Type}' (source '{m.Source}') is not supported: overlay and bind are");
        if (!string.IsNullOrEmpty(m.Target))
            throw new SandboxException(SandboxErrorCode.InvalidArgument, $"rootfs mount target '{m.Target}' is not supported (mounts go onto the root)");
        ulong flags = 0;
        var data = new List<string>();
        foreach (var option in m.Options)
        {
            if (Flags.TryGetValue(option, out var f))
                flags = (flags | f.Set) & ~f.Clear;
            else if (m.Type == "overlay")
                data.Add(option);
            else
                throw new SandboxException(SandboxErrorCode.InvalidArgument, $"rootfs {m.Type} mount option '{option}' is not supported");
        }
        if (m.Type == "rbind")
            flags |= Libc.MS_BIND | Libc.MS_REC;
        var joined = data.Count == 0 ? null : string.Join(',', data);
        if (joined is { Length: > MaxOptionBytes })
            throw new SandboxException(SandboxErrorCode.InvalidArgument,
                $"rootfs overlay options are {joined.Length} bytes; the kernel takes at most {MaxOptionBytes} (too many layers)");
        var fsType = (flags & Libc.MS_BIND) != 0 ? null : m.Type;
        if (Libc.Mount(m.Source, target, fsType, flags, joined) != 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            throw new SandboxException(SandboxErrorCode.Internal,
                $"mount {m.Type} {m.Source} on {target} failed: {Marshal.GetPInvokeErrorMessage(errno)} (errno {errno})");
        }
        if ((flags & Libc.MS_BIND) != 0 && (flags & Libc.MS_RDONLY) != 0
            && Libc.Mount("", target, null, Libc.MS_BIND | Libc.MS_REMOUNT | Libc.MS_RDONLY, null) != 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            Libc.Umount2(target, Libc.MNT_DETACH);
            throw new SandboxException(SandboxErrorCode.Internal, $"remounting {target} read-only failed: errno {errno}");
        }
    }

    /// <summary>Unmounts everything stacked on <paramref name="target"/> and removes the directory. Idempotent.</summary>
    public static void UnmountAll(string target)
    {
        for (var i = 0; i < 64 && IsMountPoint(target); i++)
        {
            if (Libc.Umount2(target, Libc.MNT_DETACH) != 0)
            {
                var errno = Marshal.GetLastPInvokeError();
                throw new SandboxException(SandboxErrorCode.Internal, $"unmount {target} failed: {Marshal.GetPInvokeErrorMessage(errno)}");
            }
        }
        if (Directory.Exists(target) && !Directory.EnumerateFileSystemEntries(target).Any())
            Directory.Delete(target);
    }

    public static bool IsMountPoint(string path)
    {
        var full = Path.GetFullPath(path).TrimEnd('/');
        foreach (var line in File.ReadLines("/proc/self/mountinfo"))
        {
            // Field 5 is the mount point, octal-escaped.
            var fields = line.Split(' ');
            if (fields.Length > 4 && Unescape(fields[4]) == full)
                return true;
        }
        return false;
    }

    private static string Unescape(string s) =>
        s.Replace("\\040", " ", StringComparison.Ordinal).Replace("\\011", "\t", StringComparison.Ordinal)
         .Replace("\\012", "\n", StringComparison.Ordinal).Replace("\\134", "\\", StringComparison.Ordinal);
}
