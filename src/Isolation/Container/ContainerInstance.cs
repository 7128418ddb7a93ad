using Sandbox.Isolation.Cgroups;
using Sandbox.Isolation.Network;

namespace Sandbox.Isolation.Container;

/// <summary>What one started container holds on the host: bwrap, the cgroup, the host uid, and for egress its network.
/// Disposing kills the cgroup (everything in the sandbox), reaps bwrap, tears the network down (pasta, dnsmasq, the
/// namespace), removes the cgroup and frees the uid — in that order.</summary>
internal sealed class ContainerInstance(BwrapProcess bwrap, ICgroup cgroup, int hostUid, int initPid, SandboxInfo info,
    Action<int> releaseUid, SandboxNetwork? network = null) : IAsyncDisposable
{
    private int _disposed;

    public BwrapProcess Bwrap { get; } = bwrap;
    public ICgroup Cgroup { get; } = cgroup;
    public int HostUid { get; } = hostUid;
    /// <summary>Host pid of the sandbox's init (bwrap's reaper inside the pid namespace).</summary>
    public int InitPid { get; } = initPid;
    public SandboxInfo Info { get; } = info;
    public SandboxNetwork? Network { get; } = network;

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
            return;
        List<Exception>? failures = null;
        try { await Cgroup.KillAllAsync(CancellationToken.None).ConfigureAwait(false); }
        catch (Exception e) { (failures ??= []).Add(e); }
        await Bwrap.DisposeAsync().ConfigureAwait(false);
        if (Network is not null)
        {
            try { await Network.DisposeAsync().ConfigureAwait(false); }
            catch (Exception e) { (failures ??= []).Add(e); }
        }
        try { await Cgroup.DisposeAsync().ConfigureAwait(false); }
        catch (Exception e) { (failures ??= []).Add(e); }
        releaseUid(HostUid);
        if (failures is not null)
            throw new AggregateException($"sandbox {Info.Id} was not torn down cleanly", failures);
    }
}
