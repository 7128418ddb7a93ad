using Sandbox.Isolation.Interop;

namespace Sandbox.Isolation.Cgroups.V1;

/// <summary>Pause, resume, signal and limit updates of a running sandbox, on the v1 hierarchies.</summary>
internal sealed partial class CgroupV1
{
    private static readonly TimeSpan s_freezeTimeout = TimeSpan.FromSeconds(10);
    private readonly SemaphoreSlim _control = new(1, 1);
    private bool _paused;

    private string Freezer => _dirs.GetValueOrDefault("freezer")
        ?? throw new SandboxException(SandboxErrorCode.Unimplemented, "the v1 freezer controller is not mounted: sandboxes cannot be paused or signalled");

    public async Task FreezeAsync(CancellationToken cancellationToken)
    {
        await _control.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await FreezeCoreAsync(cancellationToken).ConfigureAwait(false);
            _paused = true;
        }
        finally
        {
            _control.Release();
        }
    }

    public async Task ThawAsync(CancellationToken cancellationToken)
    {
        await _control.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            CgroupFiles.Write(Freezer, "freezer.state", "THAWED");
            _paused = false;
        }
        finally
        {
            _control.Release();
        }
    }

    public async Task SignalAllAsync(int signal, CancellationToken cancellationToken)
    {
        // SIGKILL to everything needs no frozen snapshot that holds: KillAllAsync freezes, kills and thaws in rounds
        // until the cgroup is empty, so a freeze that stalls once (v1's FREEZING can) does not leave the sandbox alive.
        if (signal == Libc.SIGKILL)
        {
            await KillAllAsync(cancellationToken).ConfigureAwait(false);
            return;
        }
        await SignalFrozenAsync(signal, () => CgroupFiles.ReadPidsRecursive(_dirs["pids"]), cancellationToken).ConfigureAwait(false);
    }

    public Task SignalBelowAsync(int signal, Func<string, bool> child, CancellationToken cancellationToken) =>
        SignalFrozenAsync(signal, () => CgroupFiles.ReadPidsBelow(_dirs["pids"], child), cancellationToken);

    /// <summary>Freezes the whole cgroup (v1's freezer is hierarchical), signals the pids <paramref name="pids"/> reads
    /// meanwhile (none can exit and be reused while frozen), thaws unless paused (a SIGKILL lands on thaw).</summary>
    private async Task SignalFrozenAsync(int signal, Func<IReadOnlyList<int>> pids, CancellationToken cancellationToken)
    {
        await _control.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await FreezeCoreAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                foreach (var pid in pids())
                    Libc.Kill(pid, signal);
            }
            finally
            {
                if (!_paused)
                    CgroupFiles.TryWrite(Freezer, "freezer.state", "THAWED");
            }
        }
        finally
        {
            _control.Release();
        }
    }

    public void Release()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
            return;
        _owner?.Dispose();
    }

    public void UpdateLimits(ResourceLimits limits)
    {
        var memory = _dirs["memory"];
        var bytes = (limits.MemoryMiB << 20).ToString();
        // memsw must stay >= memory: raise in the order the kernel accepts.
        var current = CgroupFiles.ReadLong(memory, "memory.limit_in_bytes");
        if (limits.MemoryMiB << 20 > current)
        {
            CgroupFiles.TryWrite(memory, "memory.memsw.limit_in_bytes", bytes);
            CgroupFiles.Write(memory, "memory.limit_in_bytes", bytes);
        }
        else
        {
            CgroupFiles.Write(memory, "memory.limit_in_bytes", bytes);
            CgroupFiles.TryWrite(memory, "memory.memsw.limit_in_bytes", bytes);
        }
        CgroupFiles.Write(_dirs["pids"], "pids.max", limits.PidsMax.ToString());
        if (_dirs.TryGetValue("cpu", out var cpu))
            CgroupFiles.Write(cpu, "cpu.cfs_quota_us", limits.Cpus > 0 ? CgroupFactory.CpuQuotaMicroseconds(limits.Cpus).ToString() : "-1");
    }

    /// <summary>v1's freezer can stall in FREEZING (a task caught mid-fork or mid-migration between cgroups); as runc
    /// does, a stalled freeze is thawed and asked again, and a freeze that never completes is thawed back before the
    /// error, so the sandbox is not left half-frozen.</summary>
    private async Task FreezeCoreAsync(CancellationToken cancellationToken)
    {
        var freezer = Freezer;
        var deadline = Environment.TickCount64 + (long)s_freezeTimeout.TotalMilliseconds;
        try
        {
            while (true)
            {
                CgroupFiles.Write(freezer, "freezer.state", "FROZEN");
                // Each poll asks again (FROZEN is idempotent and re-freezes a task that slipped through); only a freeze
                // stuck for a whole window is thawed and restarted, so a busy cgroup is not undone while it freezes.
                var retry = TimeSpan.FromMilliseconds(Math.Min(2000, Math.Max(1, deadline - Environment.TickCount64)));
                try
                {
                    await CgroupStateWait.UntilAsync(() => Frozen(freezer), $"freezing cgroup {freezer}", retry, cancellationToken)
                        .ConfigureAwait(false);
                    return;
                }
                catch (SandboxException) when (Environment.TickCount64 < deadline)
                {
                    CgroupFiles.TryWrite(freezer, "freezer.state", "THAWED");
                }
            }
        }
        catch (SandboxException) when (!_paused)
        {
            // What held the freeze up, read while it still does (the tasks not frozen are the running or waiting ones).
            var tasks = CgroupTaskStates.Describe(_dirs["pids"]);
            CgroupFiles.TryWrite(freezer, "freezer.state", "THAWED");
            throw new SandboxException(SandboxErrorCode.Unavailable,
                $"freezing cgroup {freezer} did not happen within {s_freezeTimeout.TotalSeconds:0.#} s{(tasks.Length > 0 ? "; " + tasks : "")}");
        }
    }

    private static bool Frozen(string freezer)
    {
        if (CgroupFiles.TryRead(freezer, "freezer.state")?.Trim() == "FROZEN")
            return true;
        CgroupFiles.TryWrite(freezer, "freezer.state", "FROZEN");
        return false;
    }
}
