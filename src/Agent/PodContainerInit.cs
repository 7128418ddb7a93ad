using System.Runtime.InteropServices;
using System.Text;
using Sandbox.Agent.Interop;

namespace Sandbox.Agent;

/// <summary>
/// <c>sandbox-agent --pod-container-init ROOT</c>: PID 1 of a second container of a pod's guest (<see cref="GuestContainer"/>).
/// The agent starts it (through the initramfs's loader, descriptor 3) in the container's new mount, pid, UTS and IPC
/// namespaces, with the container's root already assembled at ROOT in that mount namespace. Only a process inside the
/// new pid namespace can mount a /proc that shows that namespace, so this one does: /proc (hidepid=invisible, as the
/// guest's), then pivot_root into ROOT and detaches the guest's tree, so nothing of the guest's root or of the pod's
/// other containers stays reachable. It says "ok" (or the error) on descriptor 4, then reaps what is reparented to it
/// for as long as the container exists; its death ends the pid namespace (every process of the container), which is
/// how the agent removes a container. It runs as guest root, non-dumpable: the workload (another uid, without
/// CAP_KILL over it or CAP_SYS_PTRACE) can neither signal nor trace it. With ROOT "/" it holds a pod VM's own workload
/// (<see cref="GuestWorkloadHolder"/>): no pivot, the guest's /proc and /sys are detached and a /proc of its own mounted.
/// </summary>
internal static unsafe class PodContainerInit
{
    public const string Flag = "--pod-container-init";
    public const int InitramfsFd = 3, ReadyFd = 4;

    public static int Run(string[] args)
    {
        Libc.close(InitramfsFd);
        if (args.Length != 2 || !args[1].StartsWith('/'))
            return Ready("usage: sandbox-agent --pod-container-init ROOT");
        var root = args[1];
        try
        {
            if (root == "/")
            {
                // A pod VM's own workload (GuestWorkloadHolder): the guest's root stays its root; the guest's /proc
                // (the root pid namespace: every container's processes) and /sys (every container's cgroup) go from
                // this mount namespace, and a /proc of this pid namespace takes /proc's place.
                Check(NativeStrings.With("/proc", p => Libc.umount2((byte*)p, Libc.MNT_DETACH)), "detaching the guest's /proc");
                Check(NativeStrings.With("/sys", p => Libc.umount2((byte*)p, Libc.MNT_DETACH)), "detaching the guest's /sys");
                GuestInit.Mount("proc", "/proc", "proc", Libc.MS_NOSUID | Libc.MS_NODEV | Libc.MS_NOEXEC, "hidepid=invisible");
            }
            else
            {
                GuestInit.Mount("proc", root + "/proc", "proc", Libc.MS_NOSUID | Libc.MS_NODEV | Libc.MS_NOEXEC, "hidepid=invisible");
                Check(NativeStrings.With(root, p => Libc.chdir((byte*)p)), "chdir " + root);
                // pivot_root(".", "."): the old root ends up on top of the new one, and is detached at once.
                Check((int)NativeStrings.With(".", p => (int)Libc.syscall_pivot_root(Libc.SYS_pivot_root, (byte*)p, (byte*)p)), "pivot_root");
                Check(NativeStrings.With(".", p => Libc.umount2((byte*)p, Libc.MNT_DETACH)), "detaching the guest's root");
                Check(NativeStrings.With("/", p => Libc.chdir((byte*)p)), "chdir /");
            }
        }
        catch (IOException e)
        {
            return Ready(e.Message);
        }
        Ready(null);
        ReapForever();
        return 0;
    }

    /// <summary>Orphans of the container are reparented here (PID 1 of its pid namespace): reaped, so none stays a
    /// zombie. Processes the agent started are the agent's children and reaped by it.</summary>
    private static void ReapForever()
    {
        byte* info = stackalloc byte[Libc.SigInfoSize];
        while (true)
        {
            if (Libc.waitid(Libc.P_ALL, 0, info, Libc.WEXITED) != 0 && Marshal.GetLastPInvokeError() == Errno.ECHILD)
                Thread.Sleep(1000);
        }
    }

    /// <returns>1 when <paramref name="error"/> is set (the agent reads it and fails AddContainer with it).</returns>
    private static int Ready(string? error)
    {
        var bytes = Encoding.UTF8.GetBytes(error is null ? "ok" : "error: " + error);
        fixed (byte* p = bytes)
            Libc.write(ReadyFd, p, (nuint)bytes.Length);
        Libc.close(ReadyFd);
        return error is null ? 0 : 1;
    }

    private static void Check(int rc, string what)
    {
        if (rc != 0) throw new IOException($"{what}: {Errno.Name(Marshal.GetLastPInvokeError())}");
    }
}
