using Sandbox.Isolation.Interop;

namespace Sandbox.Isolation.Cgroups.V1;

/// <summary>A cgroup on legacy/hybrid hosts: one directory per controller hierarchy (memory, pids, cpu, cpuacct,
/// freezer). Killing freezes first so a forking process cannot outrun the kill loop.</summary>
internal sealed partial class CgroupV1 : ICgroup
{
    private readonly Dictionary<string, string> _dirs;
    private int _disposed;

    private CgroupV1(Dictionary<string, string> dirs) => _dirs = dirs;

    public string Path => _dirs["memory"];

    public static CgroupV1 Create(IReadOnlyDictionary<string, string> mounts, string parentName, SandboxId id, ResourceLimits limits)
    {
        var dirs = new Dictionary<string, string>();
        var cgroup = new CgroupV1(dirs);
        try
        {
            foreach (var (controller, mount) in mounts)
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
            }

            var memory = dirs["memory"];
            var bytes = (limits.MemoryMiB << 20).ToString();
            CgroupFiles.Write(memory, "memory.limit_in_bytes", bytes);
            CgroupFiles.TryWrite(memory, "memory.memsw.limit_in_bytes", bytes); // present only with swap accounting
            CgroupFiles.Write(dirs["pids"], "pids.max", limits.PidsMax.ToString());
            if (limits.Cpus > 0 && dirs.TryGetValue("cpu", out var cpu))
            {
                CgroupFiles.Write(cpu, "cpu.cfs_period_us", CgroupFactory.CpuPeriodMicroseconds.ToString());
                CgroupFiles.Write(cpu, "cpu.cfs_quota_us", CgroupFactory.CpuQuotaMicroseconds(limits.Cpus).ToString());
            }
            return cgroup;
        }
        catch
        {
            foreach (var dir in dirs.Values.Distinct())
                try { Directory.Delete(dir); } catch (IOException) { }
            throw;
        }
    }

    /// <summary>The cgroup a sandbox left behind (a daemon restart); null when it has no directory on the memory or
    /// pids hierarchy (the two every sandbox gets).</summary>
    public static CgroupV1? Open(IReadOnlyDictionary<string, string> mounts, string parentName, SandboxId id)
    {
        var dirs = new Dictionary<string, string>();
        foreach (var (controller, mount) in mounts)
        {
            var dir = System.IO.Path.Combine(mount, parentName, id.Value);
            if (Directory.Exists(dir))
                dirs[controller] = dir;
        }
        return dirs.ContainsKey("memory") && dirs.ContainsKey("pids") ? new CgroupV1(dirs) : null;
    }

    public void AddProcess(int pid)
    {
        foreach (var dir in _dirs.Values.Distinct())
            CgroupFiles.Write(dir, "cgroup.procs", pid.ToString());
    }

    public long OomKillCount() => CgroupFiles.ReadKey(_dirs["memory"], "memory.oom_control", "oom_kill");

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
        if (CgroupFiles.ReadPids(pidsDir).Count == 0)
            return; // the common case after a process ended: its pid namespace took everything with it
        await CgroupFactory.WaitEmptyAsync(() =>
        {
            var frozen = Freeze(freezer);
            try
            {
                var left = CgroupFiles.ReadPids(pidsDir);
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
        }, TimeSpan.FromSeconds(10), cancellationToken).ConfigureAwait(false);
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
        if (CgroupFiles.ReadPids(_dirs["pids"]).Count > 0)
            await KillAllAsync(CancellationToken.None).ConfigureAwait(false);
        foreach (var dir in _dirs.Values.Distinct())
            await CgroupFiles.RemoveAsync(dir).ConfigureAwait(false);
    }
}
