namespace Sandbox.Isolation.Container;

/// <summary>Finds argv[0] as the sandbox will see it, before anything starts, so a missing program is a clear
/// NotFound error rather than a launcher message on stderr. Symlinks are followed inside the rootfs, never out of
/// it; the answer is advisory (the exec inside the sandbox is what counts).</summary>
internal static class ExecutableLookup
{
    private const int MaxSymlinkHops = 40;
    private static readonly HashSet<string> s_hostVisible = ["usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32", "opt", "etc"];

    public static void EnsureExists(RootfsSpec rootfs, string program, string? pathVariable)
    {
        var candidates = program.Contains('/')
            ? [program]
            : (pathVariable ?? DefaultEnvironment.Path).Split(':', StringSplitOptions.RemoveEmptyEntries)
                .Where(d => d.StartsWith('/')).Select(d => d.TrimEnd('/') + "/" + program);
        foreach (var candidate in candidates)
        {
            if (!candidate.StartsWith('/'))
                continue; // relative to the cwd: cannot be checked here, let the exec decide
            if (Resolve(rootfs, candidate) is { } host && File.Exists(host))
                return;
        }
        if (!program.StartsWith('/') && program.Contains('/'))
            return;
        throw new SandboxException(SandboxErrorCode.NotFound,
            program.Contains('/') ? $"executable '{program}' not found in the sandbox" : $"executable '{program}' not found in PATH in the sandbox");
    }

    /// <summary>The host path behind a sandbox path, or null when the sandbox does not show it.</summary>
    internal static string? Resolve(RootfsSpec rootfs, string sandboxPath)
    {
        var root = rootfs switch
        {
            HostRootfs => "/",
            DirectoryRootfs d => d.Path,
            ImageRootfs i => i.LowerDirectory,
            _ => null,
        };
        if (root is null)
            return null;
        var parts = new Stack<string>(sandboxPath.Split('/', StringSplitOptions.RemoveEmptyEntries).Reverse());
        var resolved = new List<string>();
        var hops = 0;
        while (parts.Count > 0)
        {
            var part = parts.Pop();
            if (part == ".")
                continue;
            if (part == "..")
            {
                if (resolved.Count > 0) resolved.RemoveAt(resolved.Count - 1);
                continue;
            }
            if (resolved.Count == 0 && rootfs is HostRootfs && !s_hostVisible.Contains(part))
                return null;
            var host = Path.Combine(root, Path.Combine([.. resolved, part]));
            var info = new FileInfo(host);
            if (info.LinkTarget is { } target)
            {
                if (++hops > MaxSymlinkHops)
                    return null;
                if (target.StartsWith('/'))
                    resolved.Clear();
                foreach (var p in target.Split('/', StringSplitOptions.RemoveEmptyEntries).Reverse())
                    parts.Push(p);
                continue;
            }
            resolved.Add(part);
        }
        return Path.Combine(root, Path.Combine([.. resolved]));
    }
}
