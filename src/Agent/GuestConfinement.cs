using System.Runtime.InteropServices;
using Sandbox.Agent.Interop;
using Sandbox.Ttrpc;

namespace Sandbox.Agent;

/// <summary>
/// How a microVM guest's workload is confined, shared by the sandbox's own workload (<see cref="GuestSetup"/>) and a
/// pod's containers (<see cref="GuestContainer"/>): a spawn with the agent in the workload's cgroup for its instant, from
/// a thread of its own that took the workload's identity, capabilities, no_new_privs and seccomp filter; file access
/// with the workload's fs ids; its OOM kills.
/// </summary>
internal static unsafe class GuestConfinement
{
    public const string CgroupRoot = "/sys/fs/cgroup";
    private const int SockFilterBytes = 8;
    private const int MaxFilterInstructions = 4096; // BPF_MAXINSNS

    /// <summary>Taken by every spawn that moves the agent into a cgroup for its instant (the guest's workload cgroup,
    /// a pod container's), so two spawns never move it at once.</summary>
    public static readonly Lock CgroupSpawnLock = new();

    /// <summary>A seccomp program from the host: whole sock_filter instructions, at most BPF_MAXINSNS of them.</summary>
    public static void ValidateSeccompProgram(int bytes)
    {
        if (bytes % SockFilterBytes != 0 || bytes / SockFilterBytes > MaxFilterInstructions)
            throw new TtrpcException(StatusCode.InvalidArgument,
                $"seccomp program of {bytes} bytes: must be whole 8-byte instructions, at most {MaxFilterInstructions}");
    }

    /// <summary>Runs <paramref name="spawn"/> with the whole agent in <paramref name="cgroup"/> for its instant (the
    /// child is born there), under <see cref="CgroupSpawnLock"/>.</summary>
    public static T SpawnInCgroup<T>(string cgroup, Func<T> spawn)
    {
        var self = Libc.getpid().ToString();
        lock (CgroupSpawnLock)
        {
            File.WriteAllText(Path.Combine(cgroup, "cgroup.procs"), self);
            BootTimeline.Mark("spawn-cgroup-in");
            try
            {
                return spawn();
            }
            finally
            {
                File.WriteAllText(Path.Combine(CgroupRoot, "cgroup.procs"), self);
                BootTimeline.Mark("spawn-cgroup-out");
            }
        }
    }

    /// <summary>Runs <paramref name="operation"/> on a thread of its own (<see cref="ReadyThread"/>: made ready before,
    /// never used for anything else), which ends afterwards: whatever it does to its own credentials or namespaces dies
    /// with it.</summary>
    public static T OnThread<T>(Func<T> operation)
    {
        T result = default!;
        System.Runtime.ExceptionServices.ExceptionDispatchInfo? failure = null;
        ReadyThread.RunOnce(() =>
        {
            BootTimeline.Mark("spawn-thread");
            try
            {
                result = operation();
            }
            catch (Exception e)
            {
                failure = System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(e);
            }
        });
        failure?.Throw();
        return result;
    }

    /// <summary>This thread becomes the workload for good (see <see cref="GuestSetup.Spawn"/>): ids and capabilities
    /// (<see cref="WorkloadCredentials"/>: none, or guest root's few), no_new_privs, then the seccomp filter.</summary>
    public static void Confine(WorkloadUser user, byte[] seccomp)
    {
        if (user.Uid == 0)
            WorkloadCredentials.BecomeGuestRoot(user.Gid);
        else
            WorkloadCredentials.BecomeUnprivileged(user.Uid, user.Gid);
        if (seccomp.Length == 0) return;
        fixed (byte* filter = seccomp)
        {
            var program = new Libc.SockFprog { Len = (ushort)(seccomp.Length / SockFilterBytes), Filter = filter };
            CheckSyscall(Libc.syscall_seccomp(Libc.SYS_seccomp, Libc.SECCOMP_SET_MODE_FILTER, 0, &program), "seccomp(SET_MODE_FILTER)");
        }
    }

    public static T WithFsIds<T>(WorkloadUser user, Func<T> operation) => WorkloadCredentials.WithFsIds(user, 0, 0, operation);

    public static long OomKills(string cgroup)
    {
        try
        {
            foreach (var line in File.ReadAllLines(Path.Combine(cgroup, "memory.events")))
            {
                if (line.StartsWith("oom_kill ", StringComparison.Ordinal) && long.TryParse(line.AsSpan(9), out var n)) return n;
            }
        }
        catch (IOException)
        {
        }
        return 0;
    }

    public static void CheckSyscall(long rc, string what)
    {
        if (rc != 0) throw new TtrpcException(StatusCode.Internal, $"{what}: {Errno.Name(Marshal.GetLastPInvokeError())}");
    }
}
