namespace Sandbox.HostMatrix;

/// <summary>What a host needs to run the guest-VM host matrix, and which set of scenarios is asked for
/// (<c>SANDBOX_HOSTMATRIX</c>: unset or <c>smoke</c> = the smoke set, <c>full</c> = every scenario, <c>off</c> = none).</summary>
public static class HostMatrixPrerequisites
{
    public const string ModeVariable = "SANDBOX_HOSTMATRIX";

    public static string Mode => Environment.GetEnvironmentVariable(ModeVariable)?.Trim().ToLowerInvariant() switch
    {
        null or "" or "smoke" => "smoke",
        "full" => "full",
        "off" => "off",
        var other => throw new InvalidOperationException($"{ModeVariable}='{other}' is not one of smoke, full, off"),
    };

    public static string RepoRoot { get; } = FindRepoRoot();

    public static string ArtifactsDir =>
        Environment.GetEnvironmentVariable("SANDBOX_HOSTMATRIX_ARTIFACTS") is { Length: > 0 } dir ? dir : Path.Combine(RepoRoot, "artifacts");

    /// <summary>null when the host can run the matrix, else why not.</summary>
    public static string? Missing()
    {
        if (Mode == "off")
            return $"{ModeVariable}=off";
        if (Environment.UserName != "root")
            return "the host matrix needs root (mmdebstrap in root mode, the guest image)";
        foreach (var tool in new[] { "mmdebstrap", "qemu-system-x86_64", "mkfs.ext4", "cpio", "dotnet" })
        {
            if (!OnPath(tool))
                return $"{tool} is not installed (scripts/bootstrap.sh installs mmdebstrap, e2fsprogs, qemu-system-x86, cpio)";
        }
        var kernel = Path.Combine(Environment.GetEnvironmentVariable("SANDBOX_KERNEL_DIR") ?? "/var/cache/sandbox/kernel/current", "vmlinux");
        if (!File.Exists(kernel))
            return $"no guest kernel at {kernel} (scripts/fetch-kernel.sh)";
        foreach (var artifact in new[] { "cli/sandbox", "agent/sandbox-agent" })
        {
            var path = Path.Combine(ArtifactsDir, artifact);
            if (!File.Exists(path))
                return $"no {path}: build it with scripts/bootstrap.sh --no-install";
        }
        return null;
    }

    private static bool OnPath(string tool) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "/usr/bin:/bin")
            .Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Concat(["/usr/sbin", "/sbin"])
            .Any(dir => File.Exists(Path.Combine(dir, tool)));

    private static string FindRepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Sandbox.sln")) && File.Exists(Path.Combine(dir.FullName, "scripts", "hostmatrix", "run.sh")))
                return dir.FullName;
        }
        throw new InvalidOperationException($"no repository root (Sandbox.sln with scripts/hostmatrix/run.sh) above {AppContext.BaseDirectory}");
    }
}

/// <summary>A host-matrix scenario test: skipped with the reason when the host cannot boot the guest, and, for a
/// scenario of the full set only, unless <c>SANDBOX_HOSTMATRIX=full</c>.</summary>
public sealed class HostMatrixFactAttribute : FactAttribute
{
    public HostMatrixFactAttribute(bool fullOnly = false)
    {
        if (HostMatrixPrerequisites.Missing() is { } reason)
            Skip = reason;
        else if (fullOnly && HostMatrixPrerequisites.Mode != "full")
            Skip = $"in the full host matrix only: set {HostMatrixPrerequisites.ModeVariable}=full";
    }
}
