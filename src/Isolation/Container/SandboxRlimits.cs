namespace Sandbox.Isolation.Container;

/// <summary>The rlimits every container starts under (open files, file size, no core dumps). A one-shot's are set by
/// the launch helper on itself while still root, right before it drops to the owner and execs bwrap
/// (<see cref="Users.AsHostUser"/>): lowering one's own limits needs no capability, so this holds where root lacks
/// CAP_SYS_RESOURCE too, and bwrap and everything in the sandbox inherit them from the start (no window, no exec of its
/// own). A long-lived sandbox's agent sets them on itself (<see cref="AgentArgs"/>) before it serves anything.</summary>
internal static class SandboxRlimits
{
    /// <summary>The launch helper's <c>--rlimits NOFILE FSIZE</c> (it sets RLIMIT_CORE to 0 with them).</summary>
    public static string[] LaunchArgs(ResourceLimits limits) => ["--rlimits", limits.OpenFiles.ToString(), FileSizeBytes(limits).ToString()];

    /// <summary>The agent's <c>--rlimits</c>: it sets them on itself at its start, before it serves the host.</summary>
    public static string[] AgentArgs(ResourceLimits limits) => ["--rlimits", $"{limits.OpenFiles}:{FileSizeBytes(limits)}"];

    private static long FileSizeBytes(ResourceLimits limits) => (limits.FileSizeMiB ?? limits.DiskMiB) << 20;
}
