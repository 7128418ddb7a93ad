using System.Runtime.InteropServices;
using Sandbox.Agent.Interop;
using Sandbox.Ttrpc;

namespace Sandbox.Agent;

/// <summary>
/// What a spawning thread becomes, for good, before it starts a workload process (the kernel keeps credentials per
/// thread: the agent's other threads keep theirs, and the thread ends after the spawn).
/// <para><see cref="BecomeUnprivileged"/>: any uid but a microVM guest's root. Groups, gid and uid (all three ids), an
/// empty bounding set, no ambient, inheritable, permitted or effective capability, root's exec-time capabilities
/// switched off (SECBIT_NOROOT, locked) and no_new_privs: no capability of the agent reaches the child, whatever uid it
/// runs as (a container's root-inside included) and whatever file capabilities an image's programs carry.</para>
/// <para>Guest root: uid 0 in a microVM guest, where the VM is the boundary. Root keeps
/// <see cref="GuestRootCapabilities"/> (what a package manager and ordinary root tools need) and nothing else: the
/// bounding set is cut to them, so no exec (set-uid, file capabilities) can give more, and no_new_privs holds. A guest's
/// process takes either identity itself, by the same steps in C (<see cref="GuestSpawn"/>, src/Agent/Native/confine.h,
/// shared with the prepared first stage sandbox-exec): keep them alike.</para>
/// The sandbox's seccomp filter is installed by the caller afterwards (no_new_privs allows it without CAP_SYS_ADMIN).
/// </summary>
internal static unsafe class WorkloadCredentials
{
    /// <summary>
    /// The capabilities guest root keeps: docker's default set less CAP_MKNOD (the guest's writable mounts are nodev
    /// anyway, and a device node of the agent's port or a disk has no business there) and CAP_NET_RAW (no crafted
    /// packets on the sandbox's egress link). Enough for apt-get and dpkg: owners and modes of unpacked files (CHOWN,
    /// FOWNER, FSETID, DAC_OVERRIDE), apt's switch to the _apt user (SETUID, SETGID), maintainer scripts' setcap
    /// (SETFCAP), daemons binding low ports (NET_BIND_SERVICE). Never CAP_SYS_ADMIN (mounts, namespaces' setns),
    /// CAP_SYS_MODULE, CAP_SYS_PTRACE, CAP_SYS_BOOT, CAP_SYS_RAWIO, CAP_SYS_TIME, CAP_NET_ADMIN (the guest's eth0 and
    /// routes stay as the agent set them) or CAP_SYS_RESOURCE.
    /// </summary>
    public static readonly int[] GuestRootCapabilities =
    [
        0,  // CAP_CHOWN
        1,  // CAP_DAC_OVERRIDE
        3,  // CAP_FOWNER
        4,  // CAP_FSETID
        5,  // CAP_KILL
        6,  // CAP_SETGID
        7,  // CAP_SETUID
        8,  // CAP_SETPCAP
        10, // CAP_NET_BIND_SERVICE
        18, // CAP_SYS_CHROOT
        29, // CAP_AUDIT_WRITE
        31, // CAP_SETFCAP
    ];

    /// <summary>The capability mask of <see cref="GuestRootCapabilities"/> (all below 32), as /proc/PID/status shows
    /// CapEff.</summary>
    public static ulong GuestRootMask => GuestRootCapabilities.Aggregate(0UL, (mask, cap) => mask | (1UL << cap));

    public static void BecomeUnprivileged(uint uid, uint gid)
    {
        // While CAP_SETPCAP is still effective: empty the bounding set and lock root's exec-time privileges off (done
        // before the ids change, so it holds whatever the transition does to the capability sets).
        DropBoundingExcept(0);
        if (Libc.prctl(Libc.PR_SET_SECUREBITS, Libc.SECBIT_NOROOT | Libc.SECBIT_NOROOT_LOCKED, 0, 0, 0) != 0) throw Fail("PR_SET_SECUREBITS");
        SetIds(uid, gid);
        if (Libc.prctl(Libc.PR_CAP_AMBIENT, Libc.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0) throw Fail("PR_CAP_AMBIENT_CLEAR_ALL");
        if (Libc.prctl(Libc.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) throw Fail("PR_SET_NO_NEW_PRIVS");
        SetCapabilities(0);
    }

    /// <summary>Drops every capability from the bounding set but those in <paramref name="keep"/>, up to the highest
    /// the kernel knows (PR_CAPBSET_DROP answers EINVAL past it).</summary>
    private static void DropBoundingExcept(ulong keep)
    {
        for (int cap = 0; cap <= Libc.CAP_LAST_KNOWN + 24; cap++)
        {
            if (cap < 64 && (keep & (1UL << cap)) != 0) continue;
            if (Libc.prctl(Libc.PR_CAPBSET_DROP, (ulong)cap, 0, 0, 0) != 0)
            {
                if (Marshal.GetLastPInvokeError() == Errno.EINVAL && cap > Libc.CAP_LAST_KNOWN) break;
                throw Fail($"PR_CAPBSET_DROP {cap}");
            }
        }
    }

    private static void SetIds(uint uid, uint gid)
    {
        Check(Libc.syscall_id3(Libc.SYS_setgroups, 1, (long)&gid, 0), "setgroups");
        Check(Libc.syscall_id3(Libc.SYS_setresgid, gid, gid, gid), "setresgid");
        Check(Libc.syscall_id3(Libc.SYS_setresuid, uid, uid, uid), "setresuid");
    }

    /// <summary>Effective and permitted = <paramref name="low"/> (capabilities 0..31), inheritable empty, the high
    /// word empty.</summary>
    private static void SetCapabilities(uint low)
    {
        var header = new Libc.CapHeader { Version = Libc.LINUX_CAPABILITY_VERSION_3 };
        var data = stackalloc Libc.CapData[2];
        data[0] = new Libc.CapData { Effective = low, Permitted = low, Inheritable = 0 };
        data[1] = default;
        Check(Libc.syscall_capset(Libc.SYS_capset, &header, data), $"capset(0x{low:x})");
    }

    private static void Check(long rc, string what)
    {
        if (rc != 0) throw Fail(what);
    }

    private static TtrpcException Fail(string what) =>
        new(StatusCode.Internal, $"confining the new process: {what}: {Errno.Name(Marshal.GetLastPInvokeError())}");

    /// <summary>Runs <paramref name="operation"/> with this thread's filesystem ids those of <paramref name="user"/>
    /// (the kernel's permission checks on paths are the user's), then sets them back to the given ids.</summary>
    public static T WithFsIds<T>(WorkloadUser user, uint restoreUid, uint restoreGid, Func<T> operation)
    {
        // setfsuid/setfsgid return the previous value and never fail with an errno.
        Libc.syscall_id3(Libc.SYS_setfsgid, user.Gid, 0, 0);
        Libc.syscall_id3(Libc.SYS_setfsuid, user.Uid, 0, 0);
        try
        {
            return operation();
        }
        finally
        {
            Libc.syscall_id3(Libc.SYS_setfsuid, restoreUid, 0, 0);
            Libc.syscall_id3(Libc.SYS_setfsgid, restoreGid, 0, 0);
        }
    }
}
