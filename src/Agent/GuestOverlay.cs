using System.Runtime.InteropServices;
using Sandbox.Agent.Interop;
using Sandbox.Ttrpc;

namespace Sandbox.Agent;

/// <summary>
/// The writable root of an image in a microVM guest: the image's read-only block device (erofs) as the lower layer of
/// an overlay whose upper is a tmpfs of the guest, capped at the sandbox's disk size (tmpfs size=). Everything lives
/// in the initramfs under /shares ({share}.lower, {share}.upper, the overlay at {share}), unreachable from the root
/// after the switch; the root's entries are bound from the overlay. Its bytes are guest RAM: charged to the workload
/// cgroup that wrote them (like a container's upper on the host), gone with the VM, never a file on the host.
/// <para>A snapshot template builds it before the save; each clone's guest RAM is a private copy-on-write of the
/// template's, so clones never share an upper. A clone checks the upper is still empty (the template's warm-up runs
/// as the unprivileged default user and writes nothing into the image) and resizes it to its own disk size; the
/// upper is reached then through an O_PATH descriptor opened before the switch of root.</para>
/// </summary>
internal sealed unsafe class GuestOverlay : IDisposable
{
    private readonly int _upperFd;

    private GuestOverlay(int upperFd) => _upperFd = upperFd;

    /// <summary>Mounts <paramref name="device"/> read-only at {share}.lower, a tmpfs of <paramref name="diskBytes"/> at
    /// {share}.upper, and the overlay of both at <paramref name="share"/> (nosuid, nodev).</summary>
    public static GuestOverlay Mount(string device, string fsType, string share, long diskBytes)
    {
        var lower = share + ".lower";
        var upper = share + ".upper";
        Directory.CreateDirectory(lower);
        Directory.CreateDirectory(upper);
        GuestInit.Mount(device, lower, fsType, Libc.MS_RDONLY | Libc.MS_NOSUID | Libc.MS_NODEV, null);
        GuestInit.Mount("upper", upper, "tmpfs", Libc.MS_NOSUID | Libc.MS_NODEV, UpperOptions(diskBytes) + ",mode=0700");
        Directory.CreateDirectory(upper + "/data");
        Directory.CreateDirectory(upper + "/work");
        GuestInit.Mount("overlay", share, "overlay", Libc.MS_NOSUID | Libc.MS_NODEV,
            $"lowerdir={lower},upperdir={upper}/data,workdir={upper}/work");
        int fd = NativeStrings.With(upper, p => Libc.open((byte*)p, Libc.O_PATH | Libc.O_DIRECTORY | Libc.O_CLOEXEC, 0));
        if (fd < 0) throw new IOException($"open {upper}: {Errno.Name(Marshal.GetLastPInvokeError())}");
        return new GuestOverlay(fd);
    }

    /// <summary>A clone's set-up: the upper it inherited from the template must be empty; it is resized to the
    /// clone's disk size.</summary>
    public void ResetForClone(long diskBytes)
    {
        var upper = $"/proc/self/fd/{_upperFd}";
        if (Directory.EnumerateFileSystemEntries(upper + "/data").FirstOrDefault() is { } entry)
            throw new TtrpcException(StatusCode.FailedPrecondition,
                $"the template's upper layer is not empty ({Path.GetFileName(entry)}): a clone would start with the template's writes");
        GuestInit.Mount("upper", upper, null, Libc.MS_REMOUNT | Libc.MS_NOSUID | Libc.MS_NODEV, UpperOptions(diskBytes));
    }

    /// <summary>Lets go of the upper's descriptor (a pod container's overlay: its mounts then die with its mount
    /// namespace).</summary>
    public void Dispose() => Libc.close(_upperFd);

    /// <summary>size= caps the bytes, nr_inodes the files (one per 4 KiB of the cap, at least 1024): a flood of empty
    /// files cannot take the guest's memory either.</summary>
    private static string UpperOptions(long diskBytes) => $"size={diskBytes},nr_inodes={Math.Max(1024, diskBytes / 4096)}";
}
