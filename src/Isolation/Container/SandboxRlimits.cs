using Sandbox.Isolation.Interop;

namespace Sandbox.Isolation.Container;

/// <summary>The rlimits every container starts under (open files, file size, no core dumps), set on the sandbox's
/// first process while bwrap holds it on its block fd, before it runs anything (or forks the workload): everything in
/// the sandbox inherits them. prlimit(2) on a process of another uid needs CAP_SYS_RESOURCE over its user namespace,
/// which root has unless it is confined (a container's root often lacks it); there util-linux prlimit sets them on
/// itself at the head of the launch chain instead, one exec more. A long-lived sandbox's agent sets them on itself
/// (<see cref="AgentArgs"/>): no exec, and no window in which it could run without them.</summary>
internal static class SandboxRlimits
{
    private const int CapSysResource = 24;
    private static readonly Lazy<bool> s_direct = new(() => HasEffectiveCapability(CapSysResource));

    /// <summary>Whether this process sets them with prlimit(2) on the held sandbox (else: <see cref="ExecPrefix"/>).</summary>
    public static bool Direct => s_direct.Value;

    /// <summary>The prlimit command that sets them on itself before exec'ing the rest of the chain.</summary>
    public static string[] ExecPrefix(string prlimitPath, ResourceLimits limits) =>
    [
        prlimitPath, $"--nofile={limits.OpenFiles}:{limits.OpenFiles}",
        $"--fsize={FileSizeBytes(limits)}:{FileSizeBytes(limits)}", "--core=0:0", "--",
    ];

    /// <summary>Sets them on <paramref name="pid"/> (the held sandbox process); a failure names the limit and the pid.</summary>
    public static void Apply(int pid, ResourceLimits limits)
    {
        Set(pid, Libc.RLIMIT_NOFILE, (ulong)limits.OpenFiles, "RLIMIT_NOFILE");
        Set(pid, Libc.RLIMIT_FSIZE, (ulong)FileSizeBytes(limits), "RLIMIT_FSIZE");
        Set(pid, Libc.RLIMIT_CORE, 0, "RLIMIT_CORE");
    }

    /// <summary>The agent's <c>--rlimits</c>: it sets them on itself at its start, before it serves the host.</summary>
    public static string[] AgentArgs(ResourceLimits limits) => ["--rlimits", $"{limits.OpenFiles}:{FileSizeBytes(limits)}"];

    private static long FileSizeBytes(ResourceLimits limits) => (limits.FileSizeMiB ?? limits.DiskMiB) << 20;

    private static void Set(int pid, int resource, ulong value, string name)
    {
        var limit = new Libc.RLimit { Current = value, Maximum = value };
        if (Libc.Prlimit(pid, resource, limit, 0) != 0)
            throw Errno.Fail($"prlimit({pid}, {name}, {value})");
    }

    /// <summary>Bit <paramref name="capability"/> of CapEff in /proc/self/status.</summary>
    private static bool HasEffectiveCapability(int capability)
    {
        foreach (var line in File.ReadLines("/proc/self/status"))
        {
            if (line.StartsWith("CapEff:", StringComparison.Ordinal))
                return (ulong.Parse(line.AsSpan(7).Trim(), System.Globalization.NumberStyles.HexNumber) & (1UL << capability)) != 0;
        }
        return false;
    }
}
