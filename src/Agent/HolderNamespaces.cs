using System.Runtime.InteropServices;
using Sandbox.Agent.Interop;
using Sandbox.Ttrpc;

namespace Sandbox.Agent;

/// <summary>
/// The mount, pid, UTS and IPC namespaces that a holder (<see cref="PodContainerInit"/>, their PID 1) keeps for a pod's
/// container (<see cref="GuestContainer"/>) or for a pod VM's own workload (<see cref="GuestWorkloadHolder"/>): their
/// descriptors, opened from /proc/HOLDER/ns, which a spawn thread enters before it takes the workload's identity.
/// </summary>
internal sealed unsafe class HolderNamespaces : IDisposable
{
    /// <summary>What unshare(2) is given to make them (with CLONE_FS: the thread's root and cwd become its own).</summary>
    public const int UnshareFlags = Libc.CLONE_NEWNS | Libc.CLONE_NEWPID | Libc.CLONE_NEWUTS | Libc.CLONE_NEWIPC;

    /// <summary>Mount first: entering it gives the thread the namespace's root and cwd, so paths resolve there.</summary>
    private static readonly (string Name, int Type)[] s_kinds =
        [("mnt", Libc.CLONE_NEWNS), ("pid", Libc.CLONE_NEWPID), ("uts", Libc.CLONE_NEWUTS), ("ipc", Libc.CLONE_NEWIPC)];

    private readonly int[] _fds;

    private HolderNamespaces(int[] fds) => _fds = fds;

    public static HolderNamespaces Open(int holder)
    {
        var fds = new int[s_kinds.Length];
        Array.Fill(fds, -1);
        for (int i = 0; i < fds.Length; i++)
        {
            var path = $"/proc/{holder}/ns/{s_kinds[i].Name}";
            fds[i] = NativeStrings.With(path, p => Libc.open((byte*)p, Libc.O_RDONLY | Libc.O_CLOEXEC, 0));
            if (fds[i] < 0)
            {
                var failure = new TtrpcException(StatusCode.Internal, $"open {path}: {Errno.Name(Marshal.GetLastPInvokeError())}");
                foreach (var fd in fds) if (fd >= 0) Libc.close(fd);
                throw failure;
            }
        }
        return new HolderNamespaces(fds);
    }

    /// <summary>This thread joins every namespace (its children are born in the pid namespace).</summary>
    public void EnterAll() => Enter(s_kinds.Length);

    /// <summary>This thread joins the mount namespace only: paths resolve in the holder's root.</summary>
    public void EnterMount() => Enter(1);

    private void Enter(int count)
    {
        Check(Libc.unshare(Libc.CLONE_FS), "unshare(CLONE_FS)");
        for (int i = 0; i < count; i++)
            Check(Libc.setns(_fds[i], s_kinds[i].Type), $"setns({s_kinds[i].Name})");
    }

    public void Dispose()
    {
        foreach (var fd in _fds) Libc.close(fd);
    }

    private static void Check(int rc, string what)
    {
        if (rc != 0) throw new TtrpcException(StatusCode.Internal, $"{what}: {Errno.Name(Marshal.GetLastPInvokeError())}");
    }
}
