namespace Sandbox.Agent;

/// <summary>
/// Where and as whom the agent's processes run when the agent itself keeps privileges its children must not have:
/// the microVM guest's agent (root, <see cref="GuestSetup"/>) and a container's agent (its own uid and a few
/// capabilities in the sandbox's user namespace, <see cref="ContainerConfinement"/>). The process table runs every
/// spawn through <see cref="Spawn{T}"/>, under its lock, so the child is born with the workload's identity (and, in a
/// guest, inside the workload cgroup). Without a confinement (the agent hosted in tests) children get the agent's own.
/// </summary>
internal abstract class SpawnConfinement
{
    /// <summary>Runs <paramref name="spawn"/> (opening a terminal and starting the child) so that the child is born with
    /// <paramref name="user"/>'s identity: a container's on a thread that took it (the argument is null: posix_spawn); a
    /// guest's by <see cref="GuestSpawn"/> with the <see cref="GuestBirth"/> given (inside the workload cgroup, under the
    /// sandbox's seccomp filter).</summary>
    public abstract T Spawn<T>(Func<GuestBirth?, T> spawn, WorkloadUser user);

    /// <summary>Runs a file operation with <paramref name="user"/>'s file-system identity (fsuid/fsgid) on this thread.</summary>
    public abstract T AsUser<T>(WorkloadUser user, Func<T> operation);

    /// <summary>Runs a file operation with the workload's file-system identity (fsuid/fsgid) on this thread.</summary>
    public T AsWorkloadUser<T>(Func<T> operation) => AsUser(DefaultUser, operation);

    /// <summary>The ids a process gets when its exec names no user.</summary>
    public abstract WorkloadUser DefaultUser { get; }

    /// <summary>The agent's own ids where they set it apart from the workload: no exec may take them (the workload
    /// could then signal, trace or starve the agent). Null where the agent's ids protect nothing the workload could
    /// reach: the microVM guest's agent is root and the VM's PID 1, kept apart by capabilities guest root does not get.</summary>
    public abstract WorkloadUser? AgentUser { get; }

    /// <summary>The workload cgroup's oom_kill counter (memory.events).</summary>
    public abstract long OomKillCount();

    /// <summary>Whether the agent's own threads count against the workload's RLIMIT_NPROC (same real uid).</summary>
    public virtual bool SharesUidWithWorkload => false;
}
