using Sandbox.Isolation.Cgroups;
using Sandbox.Isolation.Interop;
using Sandbox.Isolation.Native;
using Sandbox.Isolation.Network;

namespace Sandbox.Isolation.Container;

/// <summary>What one started container holds on the host: bwrap, the cgroup, the host ids, and for egress its network.
/// Disposing kills the cgroup (everything in the sandbox), reaps bwrap, tears the network down (pasta, dnsmasq, the
/// namespace), removes the cgroup and frees the ids — in that order. A sandbox still running is first ended through its
/// init's pidfd (<see cref="InitPidfd"/>), so the cgroup kill usually finds nothing left to freeze.</summary>
internal sealed class ContainerInstance(BwrapProcess bwrap, ICgroup cgroup, SandboxIds ids, int initPid, SandboxInfo info,
    Action<SandboxIds> releaseIds, SandboxNetwork? network = null) : IAsyncDisposable
{
    private int _disposed;

    public BwrapProcess Bwrap { get; } = bwrap;
    public ICgroup Cgroup { get; } = cgroup;
    public SandboxIds Ids { get; } = ids;
    /// <summary>Host pid of the sandbox's init (bwrap's reaper inside the pid namespace).</summary>
    public int InitPid { get; } = initPid;
    public SandboxInfo Info { get; } = info;
    public SandboxNetwork? Network { get; } = network;

    /// <summary>A long-lived sandbox's sub-cgroup of bwrap and the agent (null for a one-shot run, which uses the
    /// sandbox's cgroup itself). Removed with the sandbox's cgroup.</summary>
    public ICgroup? AgentCgroup { get; init; }

    /// <summary>A pidfd of the sandbox's init (PID 1 of its pid namespace), opened while bwrap still held it before
    /// its command; null for a container taken back after a restart (its init's pid could name another process by
    /// then). Closed on dispose.</summary>
    public PidfdHandle? InitPidfd { get; init; }

    /// <summary>How long teardown waits for a killed init's pid namespace to empty before the cgroup kill takes over.</summary>
    private static readonly TimeSpan s_initExitWait = TimeSpan.FromSeconds(2);

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
            return;
        List<Exception>? failures = null;
        await EndThroughInitAsync().ConfigureAwait(false);
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
        releaseIds(Ids);
        InitPidfd?.Dispose();
        if (failures is not null)
            throw new AggregateException($"sandbox {Info.Id} was not torn down cleanly", failures);
    }

    /// <summary>SIGKILL to the sandbox's PID 1 through its pidfd (never a recycled pid): the kernel then kills every
    /// other process of the pid namespace, nested ones included, and PID 1 exits only once they are all reaped; bwrap,
    /// its parent, then reaps it and exits. Waiting for bwrap (bounded) leaves the cgroup empty, so the v1 kill that
    /// follows finds nothing to freeze (one FROZEN and THAWED switches the kernel's freezer static key, patching kernel
    /// text: ~4 ms of CPU on this kind of VM). Only a shortcut: the cgroup kill after it is still the net for anything
    /// left (a task stuck past the wait, anything outside the namespace).</summary>
    private async Task EndThroughInitAsync()
    {
        if (InitPidfd is not { } init || Bwrap.IsAttached || Bwrap.Exited.IsCompleted)
            return;
        try
        {
            init.Signal(Libc.SIGKILL);
            await Bwrap.Exited.WaitAsync(s_initExitWait).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
        }
    }
}
