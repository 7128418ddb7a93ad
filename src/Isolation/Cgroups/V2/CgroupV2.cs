namespace Sandbox.Isolation.Cgroups.V2;

/// <summary>A cgroup on the unified hierarchy: memory.max (+ swap off), pids.max, cpu.max; cgroup.kill to kill;
/// memory.events' oom_kill to tell an OOM kill from any other SIGKILL.</summary>
internal sealed partial class CgroupV2 : ICgroup
{
    private readonly string _dir;
    private int _disposed;

    private CgroupV2(string dir) => _dir = dir;

    public string Path => _dir;

    public static CgroupV2 Create(string mount, string parentName, SandboxId id, ResourceLimits limits)
    {
        var parent = System.IO.Path.Combine(mount, parentName);
        CgroupFiles.EnsureDirectory(parent);
        // Controllers must be enabled on every level above the sandbox's cgroup.
        CgroupFiles.TryWrite(mount, "cgroup.subtree_control", "+memory +pids +cpu");
        CgroupFiles.Write(parent, "cgroup.subtree_control", "+memory +pids +cpu");
        var dir = System.IO.Path.Combine(parent, id.Value);
        if (Directory.Exists(dir))
            throw new SandboxException(SandboxErrorCode.AlreadyExists, $"cgroup {dir} already exists");
        CgroupFiles.EnsureDirectory(dir);
        var cgroup = new CgroupV2(dir);
        try
        {
            CgroupFiles.Write(dir, "memory.max", (limits.MemoryMiB << 20).ToString());
            CgroupFiles.TryWrite(dir, "memory.swap.max", "0");
            CgroupFiles.Write(dir, "pids.max", limits.PidsMax.ToString());
            if (limits.Cpus > 0)
                CgroupFiles.Write(dir, "cpu.max", $"{CgroupFactory.CpuQuotaMicroseconds(limits.Cpus)} {CgroupFactory.CpuPeriodMicroseconds}");
            return cgroup;
        }
        catch
        {
            Directory.Delete(dir);
            throw;
        }
    }

    /// <summary>The cgroup a sandbox left behind (a daemon restart); null when there is none.</summary>
    public static CgroupV2? Open(string mount, string parentName, SandboxId id)
    {
        var dir = System.IO.Path.Combine(mount, parentName, id.Value);
        return Directory.Exists(dir) ? new CgroupV2(dir) : null;
    }

    public void AddProcess(int pid) => CgroupFiles.Write(_dir, "cgroup.procs", pid.ToString());

    public long OomKillCount() => CgroupFiles.ReadKey(_dir, "memory.events", "oom_kill");

    public SandboxStats ReadStats() => new(
        CgroupFiles.ReadLong(_dir, "memory.current"),
        CgroupFiles.ReadLong(_dir, "memory.peak"),
        TimeSpan.FromMicroseconds(CgroupFiles.ReadKey(_dir, "cpu.stat", "usage_usec")),
        (int)CgroupFiles.ReadLong(_dir, "pids.current"),
        OomKillCount());

    public async Task KillAllAsync(CancellationToken cancellationToken)
    {
        if (CgroupFiles.ReadKey(_dir, "cgroup.events", "populated") == 0)
            return;
        // cgroup.kill (Linux 5.14+) kills atomically, with no pid that could be reused in between.
        if (!CgroupFiles.TryWrite(_dir, "cgroup.kill", "1"))
            throw new SandboxException(SandboxErrorCode.Unavailable, $"cannot kill cgroup {_dir}: cgroup.kill is not available (Linux 5.14 or later is needed)");
        await CgroupFactory.WaitEmptyAsync(() => CgroupFiles.ReadKey(_dir, "cgroup.events", "populated") == 0,
            TimeSpan.FromSeconds(10), cancellationToken).ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0 || !Directory.Exists(_dir))
            return;
        await KillAllAsync(CancellationToken.None).ConfigureAwait(false);
        await CgroupFiles.RemoveAsync(_dir).ConfigureAwait(false);
    }
}
