namespace Sandbox.Shim.Tests;

/// <summary>A test against the real containerd and the published shim: skipped, with the reason, on a host that
/// lacks one of them (or is not root), never passed without having run.</summary>
public sealed class ShimFactAttribute : FactAttribute
{
    public ShimFactAttribute()
    {
        if (ShimPrerequisites.Missing() is { } reason)
            Skip = reason;
    }
}

public static class ShimPrerequisites
{
    public static string ShimDir { get; } = Environment.GetEnvironmentVariable("SANDBOX_SHIM_DIR") ?? Path.Combine(RepoRoot(), "artifacts/shim");

    public static string? Missing()
    {
        if (!File.Exists(Path.Combine(ShimDir, "containerd-shim-sandbox-v2")))
            return $"the published shim is missing in {ShimDir}: run scripts/build-shim.sh (or set SANDBOX_SHIM_DIR)";
        foreach (var tool in new[] { "/usr/bin/containerd", "/usr/bin/ctr", BusyboxRootfs.Busybox, "/usr/bin/bwrap" })
        {
            if (!File.Exists(tool))
                return $"{tool} is not installed";
        }
        var agentDirs = new[] { Environment.GetEnvironmentVariable("SANDBOX_AGENT_DIR"), "/usr/local/lib/sandbox/agent", "/usr/lib/sandbox/agent" };
        if (!agentDirs.Any(d => d is not null && File.Exists(Path.Combine(d, "sandbox-agent"))))
            return "the sandbox agent is not installed: set SANDBOX_AGENT_DIR (scripts/build-agent.sh) or run scripts/bootstrap.sh --install";
        return Environment.UserName != "root" ? "containerd and the shim need root" : null;
    }

    private static string RepoRoot()
    {
        for (var dir = AppContext.BaseDirectory; dir is not null; dir = Path.GetDirectoryName(dir))
        {
            if (File.Exists(Path.Combine(dir, "Sandbox.sln")))
                return dir;
        }
        return "/";
    }
}
