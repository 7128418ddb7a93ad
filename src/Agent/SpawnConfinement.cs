namespace Sandbox.Agent;

/// <summary>
/// Where and as whom the agent's processes run when the agent itself stays privileged (microVM guest): the process
/// table hands <see cref="Spawn"/> the code that opens the child's terminal and spawns it, and the confinement runs
/// it with the child inside the workload cgroup, in the workload's identity, under the sandbox's seccomp filter.
/// In a container the agent already runs unprivileged in its cgroup under bwrap's filter, and no confinement is set.
/// </summary>
internal abstract class SpawnConfinement
{
    /// <summary>Runs <paramref name="spawn"/> (posix_spawn, returning its result and the child's pid) so that the child
    /// is born confined.</summary>
    public abstract (int Rc, int Pid) Spawn(Func<(int Rc, int Pid)> spawn);

    /// <summary>Runs a file operation with the workload's file-system identity (fsuid/fsgid) on this thread.</summary>
    public abstract T AsWorkloadUser<T>(Func<T> operation);

    /// <summary>The workload cgroup's oom_kill counter (memory.events).</summary>
    public abstract long OomKillCount();
}
