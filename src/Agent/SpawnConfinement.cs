namespace Sandbox.Agent;

/// <summary>
/// Where and as whom the agent's processes run when the agent itself stays privileged (microVM guest): the process
/// table calls <see cref="EnterForSpawn"/> right before posix_spawn and <see cref="LeaveAfterSpawn"/> right after, on
/// the same thread and under its lock, so the child is born inside the workload cgroup with the workload's identity.
/// In a container the agent already runs unprivileged in its cgroup and no confinement is set.
/// </summary>
internal abstract class SpawnConfinement
{
    public abstract void EnterForSpawn();

    public abstract void LeaveAfterSpawn();

    /// <summary>Runs a file operation with the workload's file-system identity (fsuid/fsgid) on this thread.</summary>
    public abstract T AsWorkloadUser<T>(Func<T> operation);

    /// <summary>The workload cgroup's oom_kill counter (memory.events).</summary>
    public abstract long OomKillCount();
}
