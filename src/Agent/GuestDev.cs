using Sandbox.Agent.Interop;

namespace Sandbox.Agent;

/// <summary>The workload's /dev in a microVM guest (the guest's root, a pod's later container's root).</summary>
internal static class GuestDev
{
    /// <summary>The workload's /dev, as bwrap's --dev makes a container's: a small tmpfs with the harmless character
    /// devices bound from the guest's devtmpfs, the devpts instance for terminals, and the usual links. The devtmpfs
    /// itself (disks, /dev/mem, /dev/port, the console, the agent's port) stays behind in the initramfs.</summary>
    /// <param name="newPtsInstance">A pod's later container: a devpts instance of its own (its terminals are not the
    /// guest's); else the guest's devpts is moved in.</param>
    public static void Build(string dev, bool newPtsInstance)
    {
        GuestInit.Mount("tmpfs", dev, "tmpfs", Libc.MS_NOSUID | Libc.MS_NOEXEC, "size=64k,mode=0755");
        foreach (var name in new[] { "null", "zero", "full", "random", "urandom", "tty" })
        {
            File.WriteAllBytes(dev + "/" + name, []);
            GuestInit.Mount("/dev/" + name, dev + "/" + name, null, Libc.MS_BIND, null);
        }
        Directory.CreateDirectory(dev + "/pts");
        if (newPtsInstance)
            GuestInit.Mount("devpts", dev + "/pts", "devpts", Libc.MS_NOSUID | Libc.MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620");
        else
            GuestInit.Mount("/dev/pts", dev + "/pts", null, Libc.MS_MOVE, null);
        Directory.CreateDirectory(dev + "/shm");
        File.CreateSymbolicLink(dev + "/ptmx", "pts/ptmx");
        File.CreateSymbolicLink(dev + "/fd", "/proc/self/fd");
        File.CreateSymbolicLink(dev + "/stdin", "/proc/self/fd/0");
        File.CreateSymbolicLink(dev + "/stdout", "/proc/self/fd/1");
        File.CreateSymbolicLink(dev + "/stderr", "/proc/self/fd/2");
    }
}
