namespace Sandbox.Isolation;

/// <summary>Checks specs before any host resource is taken, and reports every problem at once.</summary>
public static class SpecValidator
{
    public const int MaxArgs = 4096;
    public const int MaxArgvBytes = 256 * 1024;
    public const int MaxEnvVars = 4096;
    public const int MaxEnvBytes = 256 * 1024;
    public const int MaxPathLength = 4096;

    public static void Validate(SandboxSpec spec)
    {
        var errors = new List<string>();
        CheckLimits(spec.Limits, errors);
        if (spec.Rootfs is DirectoryRootfs dir)
        {
            if (!Path.IsPathFullyQualified(dir.Path))
                errors.Add($"rootfs '{dir.Path}' must be an absolute path");
            else if (dir.Path.Split('/').Any(part => part is ".." or "."))
                errors.Add($"rootfs '{dir.Path}' must not contain '.' or '..' segments");
            else if (!Directory.Exists(dir.Path))
                errors.Add($"rootfs '{dir.Path}' does not exist or is not a directory");
        }
        if (spec.Rootfs is ImageRootfs image)
        {
            // The path goes into overlay's mount options, where ',' and ':' separate values.
            if (!Path.IsPathFullyQualified(image.LowerDirectory) || image.LowerDirectory.IndexOfAny([',', ':', '\\']) >= 0)
                errors.Add($"image root '{image.LowerDirectory}' must be an absolute path without ',', ':' or '\\'");
            else if (!Directory.Exists(image.LowerDirectory))
                errors.Add($"image root '{image.LowerDirectory}' does not exist (was the image removed?)");
        }
        CheckSandboxPath(spec.WorkDir, "work_dir", errors);
        if (spec.WorkDir is "/" or "/proc" or "/dev" or "/run" or "/sys" or "/run/sandbox")
            errors.Add($"work_dir '{spec.WorkDir}' is reserved");
        if (spec.Hostname.Length is 0 or > 64 || !spec.Hostname.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '.'))
            errors.Add($"hostname '{spec.Hostname}' must be 1-64 characters of [A-Za-z0-9.-]");
        CheckEnv(spec.Env, "env", errors);
        CheckNetwork(spec, errors);
        HostMount.Check(spec, errors);
        ScratchMount.Check(spec, errors);
        if (spec.User is { } user && (user.Uid is < 0 or > SandboxUser.MaxId || user.Gid is < 0 or > SandboxUser.MaxId))
            errors.Add($"user {user} must have uid and gid in [0, {SandboxUser.MaxId}]");
        if (errors.Count > 0)
            throw new SpecValidationException(errors);
    }

    public const int MaxEgressRules = 256;
    public const int MaxPublishedPorts = 64;

    public const int MaxLoopbackNames = 64;

    private static void CheckNetwork(SandboxSpec spec, List<string> errors)
    {
        if (spec.NetworkOf is not null && spec.Network != NetworkMode.None)
            errors.Add("a sandbox that joins another's network (network_of) has no network mode of its own: it must be none");
        if (spec.LoopbackNames.Count > MaxLoopbackNames)
            errors.Add($"{spec.LoopbackNames.Count} loopback names, more than {MaxLoopbackNames}");
        foreach (var name in spec.LoopbackNames.Where(n => !IsHostName(n)))
            errors.Add($"loopback name '{name}' must be a host name: 1-63 characters of [A-Za-z0-9-_], labels joined by '.'");
        if (spec.Network == NetworkMode.None)
        {
            if (spec.EgressAllow.Count > 0 || spec.PublishedPorts.Count > 0)
                errors.Add("network mode none takes no egress entries and no published ports");
            return;
        }
        if (spec.EgressAllow.Count == 0 && spec.PublishedPorts.Count == 0)
            errors.Add("network mode egress needs at least one egress entry or published port");
        if (spec.EgressAllow.Count > MaxEgressRules)
            errors.Add($"{spec.EgressAllow.Count} egress entries, more than {MaxEgressRules}");
        if (spec.PublishedPorts.Count > MaxPublishedPorts)
            errors.Add($"{spec.PublishedPorts.Count} published ports, more than {MaxPublishedPorts}");
        foreach (var twice in spec.PublishedPorts.GroupBy(p => p.HostPort).Where(g => g.Count() > 1))
            errors.Add($"host port {twice.Key} is published {twice.Count()} times");
    }

    private static bool IsHostName(string name) =>
        name.Length is > 0 and <= 253 && name.Split('.').All(label => label.Length is > 0 and <= 63
            && label.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_') && label[0] != '-');

    /// <summary>Limits alone (an update of a running sandbox's limits).</summary>
    public static void Validate(ResourceLimits limits)
    {
        var errors = new List<string>();
        CheckLimits(limits, errors);
        if (errors.Count > 0)
            throw new SpecValidationException(errors);
    }

    /// <summary>An update of a running container's limits: the limits alone, and none of what was fixed when it
    /// started (its tmpfs size and rlimits); <paramref name="extra"/> adds a tier's own checks. Throws naming every fault.</summary>
    public static void ValidateUpdate(ResourceLimits atLaunch, ResourceLimits asked, Action<List<string>>? extra = null)
    {
        Validate(asked);
        var errors = new List<string>();
        if (asked.DiskMiB != atLaunch.DiskMiB)
            errors.Add($"limits.disk_mib cannot change on a running container ({atLaunch.DiskMiB} MiB tmpfs, asked {asked.DiskMiB})");
        if (asked.OpenFiles != atLaunch.OpenFiles)
            errors.Add($"limits.open_files cannot change on a running container ({atLaunch.OpenFiles}, asked {asked.OpenFiles})");
        if (asked.FileSizeMiB != atLaunch.FileSizeMiB)
            errors.Add($"limits.file_size_mib cannot change on a running container ({atLaunch.FileSizeMiB}, asked {asked.FileSizeMiB})");
        extra?.Invoke(errors);
        if (errors.Count > 0)
            throw new SpecValidationException(errors);
    }

    private static void CheckLimits(ResourceLimits l, List<string> errors)
    {
        if (l.MemoryMiB is < 16 or > 1 << 20)
            errors.Add($"limits.memory_mib {l.MemoryMiB} is out of range [16, 1048576]");
        if (double.IsNaN(l.Cpus) || l.Cpus is < 0 or > 1024 || (l.Cpus > 0 && l.Cpus < 0.01))
            errors.Add($"limits.cpus {l.Cpus} is out of range: 0 (no quota) or [0.01, 1024]");
        if (l.PidsMax is < 4 or > 1 << 22)
            errors.Add($"limits.pids {l.PidsMax} is out of range [4, 4194304]");
        if (l.DiskMiB is < 1 or > 1 << 20)
            errors.Add($"limits.disk_mib {l.DiskMiB} is out of range [1, 1048576]");
        if (l.WallTime is { } wall && (wall <= TimeSpan.Zero || wall > TimeSpan.FromDays(30)))
            errors.Add($"limits.wall_time {wall} must be positive and at most 30 days");
        if (l.OutputBytes < 0)
            errors.Add($"limits.output_bytes {l.OutputBytes} must not be negative");
        if (l.OpenFiles is < 16 or > 1 << 20)
            errors.Add($"limits.open_files {l.OpenFiles} is out of range [16, 1048576]");
        if (l.FileSizeMiB is < 1)
            errors.Add($"limits.file_size_mib {l.FileSizeMiB} must be at least 1");
    }

    public static void Validate(ProcessSpec process)
    {
        var errors = new List<string>();
        if (process.Argv.Count == 0)
            errors.Add("argv is empty: name the program to run");
        else if (string.IsNullOrEmpty(process.Argv[0]))
            errors.Add("argv[0] is empty");
        if (process.Argv.Count > MaxArgs)
            errors.Add($"argv has {process.Argv.Count} arguments; at most {MaxArgs}");
        var bytes = 0L;
        for (var i = 0; i < process.Argv.Count; i++)
        {
            if (process.Argv[i].Contains('\0'))
                errors.Add($"argv[{i}] contains a NUL byte");
            bytes += process.Argv[i].Length + 1;
        }
        if (bytes > MaxArgvBytes)
            errors.Add($"argv is {bytes} bytes; at most {MaxArgvBytes}");
        CheckEnv(process.Env, "process.env", errors);
        if (process.WorkingDirectory is not null)
            CheckSandboxPath(process.WorkingDirectory, "cwd", errors);
        if (process.Timeout is { } t && (t <= TimeSpan.Zero || t > TimeSpan.FromDays(30)))
            errors.Add($"timeout {t} must be positive and at most 30 days");
        if (process.Tty?.Problem() is { } tty)
            errors.Add(tty);
        if (process.User is { } user && !IsUserSpec(user))
            errors.Add($"user '{user}' must be NAME|UID[:GROUP|GID]: 1-32 characters of [A-Za-z0-9_.-] each, not starting with '-'");
        if (errors.Count > 0)
            throw new SpecValidationException(errors);
    }

    private static bool IsUserSpec(string user)
    {
        var parts = user.Split(':');
        return parts.Length is 1 or 2 && parts.All(p => p.Length is >= 1 and <= 32 && p[0] != '-'
            && p.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '.' or '-'));
    }

    /// <summary>An absolute path inside the sandbox: no '..' components, no NUL, bounded length.</summary>
    public static void CheckSandboxPath(string path, string what, List<string> errors)
    {
        if (string.IsNullOrEmpty(path) || path[0] != '/')
            errors.Add($"{what} '{path}' must be an absolute path");
        else if (path.Contains('\0'))
            errors.Add($"{what} contains a NUL byte");
        else if (path.Length > MaxPathLength)
            errors.Add($"{what} is {path.Length} characters; at most {MaxPathLength}");
        else if (path.Split('/').Any(part => part == ".."))
            errors.Add($"{what} '{path}' must not contain '..'");
    }

    private static void CheckEnv(IReadOnlyDictionary<string, string> env, string what, List<string> errors)
    {
        if (env.Count > MaxEnvVars)
            errors.Add($"{what} has {env.Count} variables; at most {MaxEnvVars}");
        var bytes = 0L;
        foreach (var (name, value) in env)
        {
            if (name.Length == 0 || name.Contains('=') || name.Contains('\0'))
                errors.Add($"{what} name '{name}' is invalid: must be non-empty without '=' or NUL");
            if (value.Contains('\0'))
                errors.Add($"{what}['{name}'] contains a NUL byte");
            bytes += name.Length + value.Length + 2;
        }
        if (bytes > MaxEnvBytes)
            errors.Add($"{what} is {bytes} bytes; at most {MaxEnvBytes}");
    }
}
