namespace Sandbox.Isolation.Cgroups;

/// <summary>One sandbox's cgroup, whatever the host's cgroup version. Disposing it kills every process left in it
/// and removes it.</summary>
internal interface ICgroup : IAsyncDisposable
{
    /// <summary>Where it lives, for reports (the memory controller's directory on v1).</summary>
    string Path { get; }

    /// <summary>Whether a CPU quota is enforced (false: none was asked, or a default one was left out because the cpu
    /// controller is not delegated here; see <see cref="ResourceLimits.CpuQuotaRequired"/>).</summary>
    bool CpuQuotaEnforced { get; }

    void AddProcess(int pid);

    /// <summary>Creates a sub-cgroup (a long-lived sandbox's agent, each exec): inside this one's limits, with its own
    /// task list, OOM-kill counter and kill. Disposing it kills what is left in it and removes it; disposing this one
    /// takes its sub-cgroups along.</summary>
    /// <param name="tasksOnly">A sub-cgroup only for its task list, kill and OOM count (an exec's): on v1 it is made on
    /// the memory, pids and freezer hierarchies only, its processes staying in this cgroup's CPU accounting and quota
    /// (two mkdir, two rmdir and two cgroup.procs writes less per exec); v2 has one hierarchy either way.</param>
    ICgroup CreateChild(string name, bool tasksOnly = false);

    /// <summary>Creates the full sub-cgroup <paramref name="name"/> and moves every process of this cgroup into it: a
    /// long-lived sandbox's bwrap and agent, which clone the sandbox here, in the sandbox's own cgroup, so that its
    /// cgroup namespace is rooted here and its execs' sub-cgroups show as "/NAME" inside. On v2 the controllers for
    /// children are enabled only after the move: the kernel refuses them while this cgroup holds a process.</summary>
    ICgroup MoveProcessesIntoChild(string name);

    /// <summary>The sub-cgroup <paramref name="name"/> made earlier (by this process or the one before a restart), or
    /// null when there is none.</summary>
    ICgroup? OpenChild(string name);

    /// <summary>The pids of this cgroup's own members (not of its sub-cgroups).</summary>
    IReadOnlyList<int> Pids();

    /// <summary>The pids in the sub-cgroups whose name <paramref name="child"/> accepts, and in every cgroup below them
    /// (a sandbox's workload: its execs' sub-cgroups, not the agent's).</summary>
    IReadOnlyList<int> PidsBelow(Func<string, bool> child);

    /// <summary>Removes this cgroup when nothing is left in it (no task, no sub-cgroup); false, touching nothing,
    /// otherwise.</summary>
    bool TryRemoveEmpty();

    /// <summary>How many times the kernel's OOM killer has killed a task in this cgroup or below it.</summary>
    long OomKillCount();

    SandboxStats ReadStats();

    /// <summary>SIGKILLs every task in the cgroup and waits (bounded) until it is empty.</summary>
    Task KillAllAsync(CancellationToken cancellationToken);

    // ---- Control of a running sandbox (CgroupV1.Control.cs, CgroupV2.Control.cs) ----

    /// <summary>Freezes every task (pause); completes once the kernel reports the cgroup frozen.</summary>
    Task FreezeAsync(CancellationToken cancellationToken);

    /// <summary>Lets every task run again (resume).</summary>
    Task ThawAsync(CancellationToken cancellationToken);

    /// <summary>Sends <paramref name="signal"/> to every task. The cgroup is frozen while its task list is read and
    /// signalled, so no listed pid can exit and be reused meanwhile; a paused cgroup stays paused.</summary>
    Task SignalAllAsync(int signal, CancellationToken cancellationToken);

    /// <summary>Sends <paramref name="signal"/> to the tasks of the sub-cgroups whose name <paramref name="child"/>
    /// accepts (and below them), read while this whole cgroup is frozen, as <see cref="SignalAllAsync"/>; a paused cgroup
    /// stays paused.</summary>
    Task SignalBelowAsync(int signal, Func<string, bool> child, CancellationToken cancellationToken);

    /// <summary>Writes new memory, pids and cpu limits (the rest of <paramref name="limits"/> is not a cgroup's).</summary>
    void UpdateLimits(ResourceLimits limits);

    /// <summary>Lets go of the cgroup without touching it: this process's ownership is released (another owner may
    /// open it), nothing is killed or removed. For a sandbox handed to another owner.</summary>
    void Release();
}
