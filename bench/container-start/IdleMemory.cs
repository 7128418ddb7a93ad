using Sandbox.Isolation;
using Sandbox.Isolation.Container;

namespace Sandbox.Bench.ContainerStart;

/// <summary>Host memory of idle long-lived sandboxes: PSS (proportional set size, shared pages split between their
/// users) of every process of each sandbox — the bwrap monitor outside the cgroup, and bwrap's init plus the agent
/// inside it — read from /proc/PID/smaps_rollup.</summary>
internal static class IdleMemory
{
    public static async Task MeasureAsync(ISandboxDriver driver, int count)
    {
        var sandboxes = new List<ISandbox>();
        try
        {
            for (var i = 0; i < count; i++)
                sandboxes.Add(await driver.CreateAsync(new SandboxSpec(), CancellationToken.None));
            await Task.Delay(1000);
            var pss = new List<long>();
            var rss = new List<long>();
            foreach (var sandbox in sandboxes)
            {
                // bwrap and the agent live in the sandbox's "agent" sub-cgroup.
                var pids = File.ReadAllLines(Path.Combine(sandbox.Info.CgroupPath!, "agent", "cgroup.procs")).Select(int.Parse).ToList();
                // The bwrap monitor is the parent of the sandbox's init.
                pids.AddRange(pids.Select(ParentOf).Where(p => p > 0 && !pids.Contains(p) && Comm(p) == "bwrap").Distinct().ToList());
                pss.Add(pids.Sum(p => Rollup(p, "Pss:")));
                rss.Add(pids.Sum(p => Rollup(p, "Rss:")));
            }
            Console.WriteLine($"idle long-lived sandbox (bwrap x2 + agent), {count} at once: PSS {pss.Average() / 1024:0.0} MiB, RSS {rss.Average() / 1024:0.0} MiB per sandbox (target PSS <= 8 MiB)");
        }
        finally
        {
            foreach (var s in sandboxes)
                await s.DisposeAsync();
        }
    }

    private static int ParentOf(int pid)
    {
        var stat = File.ReadAllText($"/proc/{pid}/stat");
        return int.Parse(stat[(stat.LastIndexOf(')') + 2)..].Split(' ')[1]);
    }

    private static string Comm(int pid) => File.ReadAllText($"/proc/{pid}/comm").Trim();

    private static long Rollup(int pid, string key)
    {
        foreach (var line in File.ReadLines($"/proc/{pid}/smaps_rollup"))
        {
            if (line.StartsWith(key, StringComparison.Ordinal))
                return long.Parse(line[key.Length..].Trim().Split(' ')[0]);
        }
        return 0;
    }
}
