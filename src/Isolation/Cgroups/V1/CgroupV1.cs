using Sandbox.Isolation.Interop;

namespace Sandbox.Isolation.Cgroups.V1;

/// <summary>A cgroup on legacy/hybrid hosts: one directory per controller hierarchy (memory, pids, cpu, cpuacct,
/// freezer). Killing freezes first so a forking process cannot outrun the kill loop.</summary>
internal sealed partial class CgroupV1 : ICgroup
{
    private readonly Dictionary<string, string> _dirs;
    private CgroupOwnerLock? _owner;
    private int _disposed;

    private CgroupV1(Dictionary<string, string> dirs, CgroupOwnerLock? owner = null) => (_dirs, _owner) = (dirs, owner);

    /// <summary>The hierarchies a tasks-only sub-cgroup needs: its task list (pids), its kill (freezer, pids) and its
    /// OOM count (memory).</summary>
    private static readonly string[] s_taskHierarchies = ["memory", "pids", "freezer"];

    /// <summary>A sub-cgroup on every hierarchy of this one, or (<paramref name="tasksOnly"/>) on those its task list,
    /// kill and OOM count need; no limits of its own: this one's hold for it too.</summary>
    public ICgroup CreateChild(string name, bool tasksOnly = false)
    {
        CgroupFactory.CheckChildName(name);
        var dirs = _dirs.Where(kv => !tasksOnly || s_taskHierarchies.Contains(kv.Key))
            .ToDictionary(kv => kv.Key, kv => System.IO.Path.Combine(kv.Value, name));
        foreach (var dir in dirs.Values.Distinct())
        {
            if (Directory.Exists(dir))
                throw new SandboxException(SandboxErrorCode.AlreadyExists, $"cgroup {dir} already exists");
        }
        try
        {
            foreach (var dir in dirs.Values.Distinct())
                CgroupFiles.EnsureDirectory(dir);
        }
        catch
        {
            foreach (var dir in dirs.Values.Distinct())
                try { Directory.Delete(dir); } catch (IOException) { }
            throw;
        }
        return new CgroupV1(dirs);
    }

    public ICgroup MoveProcessesIntoChild(string name)
    {
        var child = CreateChild(name);
        foreach (var (controller, dir) in _dirs)
            CgroupFiles.MoveProcesses(dir, ((CgroupV1)child)._dirs[controller]);
        return child;
    }

    public ICgroup? OpenChild(string name)
    {
        CgroupFactory.CheckChildName(name);
        var dirs = _dirs.ToDictionary(kv => kv.Key, kv => System.IO.Path.Combine(kv.Value, name));
        return dirs.Values.All(Directory.Exists) ? new CgroupV1(dirs) : null;
    }

    public string Path => _dirs["memory"];

    public bool CpuQuotaEnforced => _dirs.ContainsKey("cpu");

    public static CgroupV1 Create(IReadOnlyDictionary<string, string> mounts, string parentName, SandboxId id, ResourceLimits limits)
    {
        var dirs = new Dictionary<string, string>();
        var cgroup = new CgroupV1(dirs);
        try
        {
            // The memory directory first: its lock marks the whole set as owned (see CgroupOwnerLock) before the other
            // directories exist, so a janitor never takes a half-built set for a dead owner's.
            foreach (var (controller, mount) in mounts.OrderBy(m => m.Key == "memory" ? 0 : 1))
            {
                // cpu and cpuacct are often co-mounted ("cpu,cpuacct"): one directory serves both.
                var dir = System.IO.Path.Combine(mount, parentName, id.Value);
                if (dirs.ContainsValue(dir))
                {
                    dirs[controller] = dir;
                    continue;
                }
                if (Directory.Exists(dir))
                    throw new SandboxException(SandboxErrorCode.AlreadyExists, $"cgroup {dir} already exists");
                CgroupFiles.EnsureDirectory(dir);
                dirs[controller] = dir;
                if (controller == "memory")
                    cgroup._owner = CgroupOwnerLock.Take(dir);
            }

            var memory = dirs["memory"];
            var bytes = (limits.MemoryMiB << 20).ToString();
            CgroupFiles.Write(memory, "memory.limit_in_bytes", bytes);
            CgroupFiles.TryWrite(memory, "memory.memsw.limit_in_bytes", bytes); // present only with swap accounting
            CgroupFiles.Write(dirs["pids"], "pids.max", limits.PidsMax.ToString());
            if (limits.Cpus > 0 && limits.CpuQuotaRequired && !dirs.ContainsKey("cpu"))
                throw new SandboxException(SandboxErrorCode.Unavailable, "a CPU limit was asked for, but this host has no cpu cgroup hierarchy mounted");
            if (limits.Cpus > 0 && dirs.TryGetValue("cpu", out var cpu))
            {
                CgroupFiles.Write(cpu, "cpu.cfs_period_us", CgroupFactory.CpuPeriodMicroseconds.ToString());
                CgroupFiles.Write(cpu, "cpu.cfs_quota_us", CgroupFactory.CpuQuotaMicroseconds(limits.Cpus).ToString());
            }
            return cgroup;
        }
        catch
        {
            foreach (var dir in dirs.Values.Distinct().OrderBy(d => d == dirs.GetValueOrDefault("memory") ? 1 : 0))
                try { Directory.Delete(dir); } catch (IOException) { }
            cgroup._owner?.Dispose();
            throw;
        }
    }

    /// <summary>The cgroup a sandbox left behind (a daemon restart), taken over by this process; null when it has no
    /// directory on the memory or pids hierarchy (the two every sandbox gets) or a live process still owns it.</summary>
    public static CgroupV1? Open(IReadOnlyDictionary<string, string> mounts, string parentName, SandboxId id)
    {
        var dirs = new Dictionary<string, string>();
        foreach (var (controller, mount) in mounts)
        {
            var dir = System.IO.Path.Combine(mount, parentName, id.Value);
            if (Directory.Exists(dir))
                dirs[controller] = dir;
        }
        if (!dirs.TryGetValue("memory", out var memory) || !dirs.ContainsKey("pids"))
            return null;
        return CgroupOwnerLock.TryTake(memory) is { } owner ? new CgroupV1(dirs, owner) : null;
    }

    public void AddProcess(int pid)
    {
        foreach (var dir in _dirs.Values.Distinct())
            CgroupFiles.Write(dir, "cgroup.procs", pid.ToString());
    }

    /// <summary>v1 counts an OOM kill in the victim's own cgroup only: the sandbox's count is the sum over its
    /// sub-cgroups (the agent's, each exec's).</summary>
    public long OomKillCount() => OomKills(_dirs["memory"]);

    private static long OomKills(string dir) =>
        CgroupFiles.ReadKey(dir, "memory.oom_control", "oom_kill") + CgroupFiles.Children(dir).Sum(OomKills);

    public IReadOnlyList<int> Pids() => CgroupFiles.ReadPids(_dirs["pids"]);

    public IReadOnlyList<int> PidsBelow(Func<string, bool> child) => CgroupFiles.ReadPidsBelow(_dirs["pids"], child);

    public bool TryRemoveEmpty()
    {
        if (CgroupFiles.ReadPidsRecursive(_dirs["pids"]).Count > 0)
            return false;
        try
        {
            foreach (var dir in _dirs.Values.Distinct().OrderBy(d => d == _dirs["memory"] ? 1 : 0))
            {
                if (Directory.Exists(dir))
                    Directory.Delete(dir);
            }
            Interlocked.Exchange(ref _disposed, 1);
            return true;
        }
        catch (IOException)
        {
            return false;
        }
    }

    public SandboxStats ReadStats()
    {
        var cpu = _dirs.TryGetValue("cpuacct", out var acct) ? TimeSpan.FromTicks(CgroupFiles.ReadLong(acct, "cpuacct.usage") / 100) : TimeSpan.Zero;
        return new SandboxStats(
            CgroupFiles.ReadLong(_dirs["memory"], "memory.usage_in_bytes"),
            CgroupFiles.ReadLong(_dirs["memory"], "memory.max_usage_in_bytes"),
            cpu,
            (int)CgroupFiles.ReadLong(_dirs["pids"], "pids.current"),
            OomKillCount());
    }

    /// <summary>Each round freezes the cgroup before reading its task list, so no listed pid can exit and be reused
    /// by an unrelated process before the SIGKILL lands; the kills take effect on thaw.</summary>
    public async Task KillAllAsync(CancellationToken cancellationToken)
    {
        var freezer = _dirs.GetValueOrDefault("freezer")
            ?? throw new SandboxException(SandboxErrorCode.Unavailable, "the v1 freezer controller is needed to kill a sandbox safely");
        var pidsDir = _dirs["pids"];
        if (CgroupFiles.ReadPidsRecursive(pidsDir).Count == 0)
            return; // the common case after a process ended: its pid namespace took everything with it
        await CgroupFactory.WaitEmptyAsync(() =>
        {
            // A one-shot's bwrap init is often still exiting, or a zombie its new parent has not reaped yet, when bwrap
            // itself has been reaped (half the runs here): nothing in it can run or fork again, so wait for it to go
            // instead of freezing. Each FROZEN and THAWED of a v1 freezer cgroup switches the kernel's freezer static
            // key, which patches kernel text: a few % of sandboxd's CPU per one-shot on this VM (docs/architecture.md).
            var listed = CgroupFiles.ReadPidsRecursive(pidsDir);
            if (listed.Count == 0)
                return true;
            if (listed.All(CgroupTaskStates.IsExiting))
                return false;
            // v1's freezer is hierarchical: freezing this cgroup freezes its sub-cgroups too.
            var frozen = Freeze(freezer);
            try
            {
                var left = CgroupFiles.ReadPidsRecursive(pidsDir);
                if (frozen)
                {
                    foreach (var pid in left)
                        Libc.Kill(pid, Libc.SIGKILL);
                }
                return left.Count == 0;
            }
            finally
            {
                CgroupFiles.TryWrite(freezer, "freezer.state", "THAWED");
            }
        }, TimeSpan.FromSeconds(10), cancellationToken, pidsDir).ConfigureAwait(false);
    }

    /// <summary>Asks for FROZEN and waits (briefly, spinning) until the kernel reports it.</summary>
    private static bool Freeze(string freezer)
    {
        if (!CgroupFiles.TryWrite(freezer, "freezer.state", "FROZEN"))
            return false;
        for (var i = 0; i < 1000; i++)
        {
            if (CgroupFiles.TryRead(freezer, "freezer.state")?.Trim() == "FROZEN")
                return true;
            Thread.Sleep(1);
        }
        return false;
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
            return;
        try
        {
            if (CgroupFiles.ReadPidsRecursive(_dirs["pids"]).Count > 0)
                await KillAllAsync(CancellationToken.None).ConfigureAwait(false);
            // The memory directory (the one holding the owner lock) goes last.
            foreach (var dir in _dirs.Values.Distinct().OrderBy(d => d == _dirs["memory"] ? 1 : 0))
                await CgroupFiles.RemoveAsync(dir).ConfigureAwait(false);
        }
        finally
        {
            _owner?.Dispose();
        }
    }
}
