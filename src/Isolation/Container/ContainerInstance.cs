using Sandbox.Isolation.Cgroups;

namespace Sandbox.Isolation.Container;

/// <summary>What one started container holds on the host: bwrap, the cgroup, the host ids. Disposing kills the
/// cgroup (everything in the sandbox), reaps bwrap, removes the cgroup and frees the ids — in that order.</summary>
internal sealed class ContainerInstance(BwrapProcess bwrap, ICgroup cgroup, SandboxIds ids, int initPid, SandboxInfo info,
    Action<SandboxIds> releaseIds) : IAsyncDisposable
{
    private int _disposed;

    public BwrapProcess Bwrap { get; } = bwrap;
    public ICgroup Cgroup { get; } = cgroup;
    public SandboxIds Ids { get; } = ids;
    /// <summary>Host pid of the sandbox's init (bwrap's reaper inside the pid namespace).</summary>
    public int InitPid { get; } = initPid;
    public SandboxInfo Info { get; } = info;

    /// <summary>A long-lived sandbox's sub-cgroup of bwrap and the agent (null for a one-shot run, which uses the
    /// sandbox's cgroup itself). Removed with the sandbox's cgroup.</summary>
    public ICgroup? AgentCgroup { get; init; }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
            return;
        List<Exception>? failures = null;
        try { await Cgroup.KillAllAsync(CancellationToken.None).ConfigureAwait(false); }
        catch (Exception e) { (failures ??= []).Add(e); }
        await Bwrap.DisposeAsync().ConfigureAwait(false);
        try { await Cgroup.DisposeAsync().ConfigureAwait(false); }
        catch (Exception e) { (failures ??= []).Add(e); }
        releaseIds(Ids);
        if (failures is not null)
            throw new AggregateException($"sandbox {Info.Id} was not torn down cleanly", failures);
    }
}
