namespace Sandbox.Shim.Tests;

/// <summary>What the host sees of a pod's microVM: the QEMU processes below a shim daemon (bwrap's jail, then QEMU, by
/// parent pid in the host's /proc), and each one's host cgroup and state directory (its QMP socket's directory).</summary>
internal sealed record PodVm(int QemuPid, string Cgroup, string StateDirectory)
{
    public static IReadOnlyList<PodVm> Below(int shimPid)
    {
        var parents = new Dictionary<int, int>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var pid)) continue;
            try
            {
                // /proc/PID/stat: "pid (comm) state ppid ...": comm may hold spaces; the fields after its ')' do not.
                var stat = File.ReadAllText(Path.Combine(dir, "stat"));
                parents[pid] = int.Parse(stat[(stat.LastIndexOf(')') + 2)..].Split(' ')[1]);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException)
            {
            }
        }
        bool Below(int pid)
        {
            for (var p = pid; parents.TryGetValue(p, out var parent) && parent > 1; p = parent)
                if (parent == shimPid) return true;
            return false;
        }
        var vms = new List<PodVm>();
        foreach (var pid in parents.Keys.Where(Below))
        {
            try
            {
                var argv = File.ReadAllText($"/proc/{pid}/cmdline").Split('\0');
                if (!Path.GetFileName(argv[0]).StartsWith("qemu-system", StringComparison.Ordinal)) continue;
                var qmp = argv.Select(a => a.Split(',').FirstOrDefault(o => o.StartsWith("path=", StringComparison.Ordinal) && o.EndsWith("/qmp.sock", StringComparison.Ordinal)))
                    .First(o => o is not null)!["path=".Length..];
                var cgroup = File.ReadAllLines($"/proc/{pid}/cgroup").Select(l => l.Split(':', 3)).First(f => f[1] is "" or "memory")[2];
                vms.Add(new PodVm(pid, cgroup, Path.GetDirectoryName(qmp)!));
            }
            catch (IOException)
            {
                // exited meanwhile
            }
        }
        return vms;
    }

    /// <summary>The VM's host cgroup directory (v2, or v1's memory hierarchy).</summary>
    public string CgroupDirectory => Directory.Exists("/sys/fs/cgroup/memory")
        ? "/sys/fs/cgroup/memory" + Cgroup
        : "/sys/fs/cgroup" + Cgroup;

    /// <summary>The root images on the VM's pod share (one per later container of the pod).</summary>
    public IReadOnlyList<string> SharedImages => Directory.Exists(Path.Combine(StateDirectory, "pod"))
        ? Directory.GetFiles(Path.Combine(StateDirectory, "pod")).Select(f => Path.GetFileName(f)).ToList()
        : [];
}
