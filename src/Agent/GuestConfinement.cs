using System.Runtime.InteropServices;
using Sandbox.Agent.Interop;
using Sandbox.Ttrpc;

namespace Sandbox.Agent;

/// <summary>
/// How a microVM guest's workload is confined, shared by the sandbox's own workload (<see cref="GuestSetup"/>) and a
/// pod's containers (<see cref="GuestContainer"/>): a process born in the workload's cgroup that takes the workload's
/// identity, capabilities, no_new_privs and seccomp filter itself before it execs (<see cref="GuestSpawn"/>), from a
/// thread in the workload's namespaces where it has its own; file access with the workload's fs ids; its OOM kills.
/// </summary>
internal static unsafe class GuestConfinement
{
    public const string CgroupRoot = "/sys/fs/cgroup";
    internal const int SockFilterBytes = 8;
    private const int MaxFilterInstructions = 4096; // BPF_MAXINSNS

    /// <summary>Taken by every spawn into a workload cgroup (the guest's, a pod container's; a holder's, which moves
    /// the agent there for its instant) and by every freeze of one: no spawn ever meets a frozen cgroup (its child, or
    /// the agent, would freeze with it), and a listing or signal never sees a child that is not yet the workload.</summary>
    public static readonly Lock CgroupSpawnLock = new();

    /// <summary>A seccomp program from the host: whole sock_filter instructions, at most BPF_MAXINSNS of them.</summary>
    public static void ValidateSeccompProgram(int bytes)
    {
        if (bytes % SockFilterBytes != 0 || bytes / SockFilterBytes > MaxFilterInstructions)
            throw new TtrpcException(StatusCode.InvalidArgument,
                $"seccomp program of {bytes} bytes: must be whole 8-byte instructions, at most {MaxFilterInstructions}");
    }

    /// <summary>A workload spawn (<see cref="SpawnConfinement.Spawn{T}"/>): <paramref name="spawn"/> starts its process
    /// with a <see cref="GuestBirth"/> of <paramref name="cgroupFd"/>, <paramref name="user"/> and
    /// <paramref name="seccomp"/>, under <see cref="CgroupSpawnLock"/>; with <paramref name="namespaces"/>, from a thread
    /// of its own that entered them first (the child is born in their pid namespace, paths resolve in their root).</summary>
    public static T Spawn<T>(int cgroupFd, HolderNamespaces? namespaces, WorkloadUser user, byte[] seccomp, Func<GuestBirth?, T> spawn)
    {
        var birth = new GuestBirth(cgroupFd, user, seccomp);
        lock (CgroupSpawnLock)
        {
            BootTimeline.Mark("spawn-start");
            var spawned = namespaces is null ? spawn(birth) : OnThread(() =>
            {
                namespaces.EnterAll();
                return spawn(birth);
            });
            BootTimeline.Mark("spawn-exec-done");
            return spawned;
        }
    }

    /// <summary>Runs <paramref name="spawn"/> with the whole agent in <paramref name="cgroup"/> for its instant (the
    /// child is born there), under <see cref="CgroupSpawnLock"/>: a holder's start, which posix_spawn does.</summary>
    public static T SpawnInCgroup<T>(string cgroup, Func<T> spawn)
    {
        var self = Libc.getpid().ToString();
        lock (CgroupSpawnLock)
        {
            File.WriteAllText(Path.Combine(cgroup, "cgroup.procs"), self);
            try
            {
                return spawn();
            }
            finally
            {
                File.WriteAllText(Path.Combine(CgroupRoot, "cgroup.procs"), self);
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
