namespace Sandbox.Isolation.Cgroups;

/// <summary>One sandbox's cgroup, whatever the host's cgroup version. Disposing it kills every process left in it
/// and removes it.</summary>
internal interface ICgroup : IAsyncDisposable
{
    /// <summary>Where it lives, for reports (the memory controller's directory on v1).</summary>
    string Path { get; }

    void AddProcess(int pid);

    /// <summary>How many times the kernel's OOM killer has killed a task in this cgroup.</summary>
    long OomKillCount();

    SandboxStats ReadStats();

    /// <summary>SIGKILLs every task in the cgroup and waits (bounded) until it is empty.</summary>
    Task KillAllAsync(CancellationToken cancellationToken);
}
