using Sandbox.Isolation.Interop;

namespace Sandbox.Isolation.Cgroups.V2;

/// <summary>Pause, resume, signal and limit updates of a running sandbox, on the unified hierarchy.</summary>
internal sealed partial class CgroupV2
{
    private static readonly TimeSpan s_freezeTimeout = TimeSpan.FromSeconds(10);
    private readonly SemaphoreSlim _control = new(1, 1);
    private bool _paused;

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
            CgroupFiles.Write(_dir, "cgroup.freeze", "0");
            _paused = false;
        }
        finally
        {
            _control.Release();
        }
    }

    public async Task SignalAllAsync(int signal, CancellationToken cancellationToken)
    {
        if (signal == Libc.SIGKILL)
        {
            await KillAllAsync(cancellationToken).ConfigureAwait(false);
            return;
        }
        await SignalFrozenAsync(signal, () => CgroupFiles.ReadPidsRecursive(_dir), cancellationToken).ConfigureAwait(false);
    }

    /// <summary>A fatal signal kills a task frozen on v2 at once; the rest land on thaw.</summary>
    public Task SignalBelowAsync(int signal, Func<string, bool> child, CancellationToken cancellationToken) =>
        SignalFrozenAsync(signal, () => CgroupFiles.ReadPidsBelow(_dir, child), cancellationToken);

    /// <summary>Freezes the whole cgroup, signals the pids <paramref name="pids"/> reads meanwhile (none can exit and
    /// be reused while frozen), thaws unless paused.</summary>
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
                    CgroupFiles.TryWrite(_dir, "cgroup.freeze", "0");
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
        CgroupFiles.Write(_dir, "memory.max", (limits.MemoryMiB << 20).ToString());
        CgroupFiles.Write(_dir, "pids.max", limits.PidsMax.ToString());
        if (File.Exists(System.IO.Path.Combine(_dir, "cpu.max")))
            CgroupFiles.Write(_dir, "cpu.max", limits.Cpus > 0
                ? $"{CgroupFactory.CpuQuotaMicroseconds(limits.Cpus)} {CgroupFactory.CpuPeriodMicroseconds}"
                : $"max {CgroupFactory.CpuPeriodMicroseconds}");
    }

    /// <summary>A freeze that does not complete is thawed back before the error (unless the sandbox was paused), so the
    /// sandbox is not left half-frozen; the error names what held it up.</summary>
    private async Task FreezeCoreAsync(CancellationToken cancellationToken)
    {
        CgroupFiles.Write(_dir, "cgroup.freeze", "1");
        try
        {
            await CgroupStateWait.UntilAsync(() => CgroupFiles.ReadKey(_dir, "cgroup.events", "frozen") == 1,
                $"freezing cgroup {_dir}", s_freezeTimeout, cancellationToken, () => CgroupTaskStates.Describe(_dir)).ConfigureAwait(false);
        }
        catch when (!_paused)
        {
            CgroupFiles.TryWrite(_dir, "cgroup.freeze", "0");
            throw;
        }
    }
}
