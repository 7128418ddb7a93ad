namespace Sandbox.Isolation.Cgroups.V2;

/// <summary>A cgroup on the unified hierarchy: memory.max (+ swap off), pids.max, cpu.max; cgroup.kill to kill;
/// memory.events' oom_kill to tell an OOM kill from any other SIGKILL.</summary>
internal sealed partial class CgroupV2 : ICgroup
{
    private readonly string _dir;
    private readonly CgroupOwnerLock? _owner;
    private int _disposed;

    private CgroupV2(string dir, CgroupOwnerLock? owner, bool cpuQuota) => (_dir, _owner, CpuQuotaEnforced) = (dir, owner, cpuQuota);

    /// <summary>A sub-cgroup (no limits of its own: this one's hold for it too). Its controllers are enabled in this
    /// cgroup's subtree_control first, one per write, which the kernel allows only while this cgroup holds no process
    /// of its own (the no-internal-process rule): a long-lived sandbox's agent lives in a sub-cgroup for that reason.</summary>
    public ICgroup CreateChild(string name, bool tasksOnly = false)
    {
        CgroupFactory.CheckChildName(name);
        SubtreeControllers.EnableForChildren(_dir, CpuQuotaEnforced ? [.. SubtreeControllers.Required, "cpu"] : SubtreeControllers.Required);
        var dir = System.IO.Path.Combine(_dir, name);
        if (Directory.Exists(dir))
            throw new SandboxException(SandboxErrorCode.AlreadyExists, $"cgroup {dir} already exists");
        CgroupFiles.EnsureDirectory(dir);
        return new CgroupV2(dir, null, CpuQuotaEnforced);
    }

    public ICgroup MoveProcessesIntoChild(string name)
    {
        CgroupFactory.CheckChildName(name);
        var dir = System.IO.Path.Combine(_dir, name);
        if (Directory.Exists(dir))
            throw new SandboxException(SandboxErrorCode.AlreadyExists, $"cgroup {dir} already exists");
        CgroupFiles.EnsureDirectory(dir);
        CgroupFiles.MoveProcesses(_dir, dir);
        SubtreeControllers.EnableForChildren(_dir, CpuQuotaEnforced ? [.. SubtreeControllers.Required, "cpu"] : SubtreeControllers.Required);
        return new CgroupV2(dir, null, CpuQuotaEnforced);
    }

    public ICgroup? OpenChild(string name)
    {
        CgroupFactory.CheckChildName(name);
        var dir = System.IO.Path.Combine(_dir, name);
        return Directory.Exists(dir) ? new CgroupV2(dir, null, CpuQuotaEnforced) : null;
    }

    public string Path => _dir;

    public bool CpuQuotaEnforced { get; }

    /// <param name="root">The placement root (<see cref="PlacementRoot"/>): the parent and the sandbox's cgroup are
    /// created below it. A test passes a fake cgroupfs directory.</param>
    public static CgroupV2 Create(string root, string parentName, SandboxId id, ResourceLimits limits)
    {
        var parent = System.IO.Path.Combine(root, parentName);
        CgroupFiles.EnsureDirectory(parent);
        // Controllers must be enabled on every level from the placement root down to the sandbox's parent.
        // A CPU quota the caller did not ask for is a default: left out where cpu is not delegated (a subtree delegated
        // with memory and pids only), so such hosts still run sandboxes; one asked for makes cpu's absence an error.
        var cpuQuota = limits.Cpus > 0 && (limits.CpuQuotaRequired || SubtreeControllers.Available(root).Contains("cpu"));
        SubtreeControllers.Enable(root, parent, SubtreeControllers.For(root, cpuQuota));
        var dir = System.IO.Path.Combine(parent, id.Value);
        if (Directory.Exists(dir))
            throw new SandboxException(SandboxErrorCode.AlreadyExists, $"cgroup {dir} already exists");
        CgroupFiles.EnsureDirectory(dir);
        CgroupOwnerLock? owner = null;
        try
        {
            owner = CgroupOwnerLock.Take(dir);
            CgroupFiles.Write(dir, "memory.max", (limits.MemoryMiB << 20).ToString());
            CgroupFiles.TryWrite(dir, "memory.swap.max", "0");
            CgroupFiles.Write(dir, "pids.max", limits.PidsMax.ToString());
            if (cpuQuota)
                CgroupFiles.Write(dir, "cpu.max", $"{CgroupFactory.CpuQuotaMicroseconds(limits.Cpus)} {CgroupFactory.CpuPeriodMicroseconds}");
            return new CgroupV2(dir, owner, cpuQuota);
        }
        catch
        {
            try { Directory.Delete(dir); } catch (IOException) { }
            owner?.Dispose();
            throw;
        }
    }

    /// <summary>The cgroup a sandbox left behind (a daemon restart), taken over by this process; null when there is
    /// none or a live process still owns it.</summary>
    public static CgroupV2? Open(string root, string parentName, SandboxId id)
    {
        var dir = System.IO.Path.Combine(root, parentName, id.Value);
        return CgroupOwnerLock.TryTake(dir) is { } owner ? new CgroupV2(dir, owner, File.Exists(System.IO.Path.Combine(dir, "cpu.max"))) : null;
    }

    public void AddProcess(int pid) => CgroupFiles.Write(_dir, "cgroup.procs", pid.ToString());

    /// <summary>memory.events is hierarchical on v2: kills below this cgroup are counted here too.</summary>
    public long OomKillCount() => CgroupFiles.ReadKey(_dir, "memory.events", "oom_kill");

    public IReadOnlyList<int> Pids() => CgroupFiles.ReadPids(_dir);

    public IReadOnlyList<int> PidsBelow(Func<string, bool> child) => CgroupFiles.ReadPidsBelow(_dir, child);

    public bool TryRemoveEmpty()
    {
        if (CgroupFiles.ReadKey(_dir, "cgroup.events", "populated") != 0 || CgroupFiles.Children(_dir).Any())
            return false;
        try
        {
            Directory.Delete(_dir);
            Interlocked.Exchange(ref _disposed, 1);
            return true;
        }
        catch (IOException)
        {
            return false;
        }
    }

    public SandboxStats ReadStats() => new(
        CgroupFiles.ReadLong(_dir, "memory.current"),
        CgroupFiles.ReadLong(_dir, "memory.peak"),
        TimeSpan.FromMicroseconds(CgroupFiles.ReadKey(_dir, "cpu.stat", "usage_usec")),
        (int)CgroupFiles.ReadLong(_dir, "pids.current"),
        OomKillCount(),
        ReadIo());

    /// <summary>io.stat summed over devices ("MAJ:MIN rbytes=N wbytes=N rios=N ..."); null without the io controller.</summary>
    private IoBytes? ReadIo()
    {
        if (CgroupFiles.TryRead(_dir, "io.stat") is not { } text)
            return null;
        long read = 0, written = 0;
        foreach (var field in text.Split([' ', '\n'], StringSplitOptions.RemoveEmptyEntries))
        {
            if (field.StartsWith("rbytes=", StringComparison.Ordinal) && long.TryParse(field.AsSpan(7), out var r))
                read += r;
            else if (field.StartsWith("wbytes=", StringComparison.Ordinal) && long.TryParse(field.AsSpan(7), out var w))
                written += w;
        }
        return new IoBytes(read, written);
    }

    public async Task KillAllAsync(CancellationToken cancellationToken)
    {
        if (CgroupFiles.ReadKey(_dir, "cgroup.events", "populated") == 0)
            return;
        // cgroup.kill (Linux 5.14+) kills atomically, with no pid that could be reused in between.
        if (!CgroupFiles.TryWrite(_dir, "cgroup.kill", "1"))
            throw new SandboxException(SandboxErrorCode.Unavailable, $"cannot kill cgroup {_dir}: cgroup.kill is not available (Linux 5.14 or later is needed)");
        await CgroupFactory.WaitEmptyAsync(() => CgroupFiles.ReadKey(_dir, "cgroup.events", "populated") == 0,
            TimeSpan.FromSeconds(10), cancellationToken, _dir).ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
            return;
        if (!Directory.Exists(_dir))
        {
            _owner?.Dispose();
            return;
        }
        try
        {
            await KillAllAsync(CancellationToken.None).ConfigureAwait(false);
            await CgroupFiles.RemoveAsync(_dir).ConfigureAwait(false);
        }
        finally
        {
            _owner?.Dispose();
        }
    }
}
