namespace Sandbox.Isolation.Container;

/// <summary>Finds argv[0] as the sandbox will see it, before anything starts, so a missing program is a clear
/// NotFound error (and a directory or a file without any execute bit a PermissionDenied one) rather than a launcher
/// message on stderr. Symlinks are followed inside the rootfs, never out of
/// it; the answer is advisory (the exec inside the sandbox is what counts).
/// It answers only what the sandbox itself could find out, never "does this host path exist" (issue 9, item 5): the
/// host rootfs's /etc is the prepared copy the sandbox gets (not the host's, so /etc/shadow is as missing as
/// /etc/no-such-file), and where the sandbox's user could not search a directory on the way (it gets the "other"
/// permission bits of host files), the lookup does not look either and leaves the answer (EACCES) to the exec.</summary>
internal static class ExecutableLookup
{
    private const int MaxSymlinkHops = 40;
    private const UnixFileMode AnyExecute = UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute;
    private static readonly HashSet<string> s_hostVisible = ["usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32", "opt"];

    /// <param name="etcDirectory">For the host rootfs: the prepared /etc the sandbox gets (null: /etc is not looked at).</param>
    public static void EnsureExists(RootfsSpec rootfs, string program, string? pathVariable, string? etcDirectory = null)
    {
        var candidates = program.Contains('/')
            ? [program]
            : (pathVariable ?? DefaultEnvironment.Path).Split(':', StringSplitOptions.RemoveEmptyEntries)
                .Where(d => d.StartsWith('/')).Select(d => d.TrimEnd('/') + "/" + program);
        string? notExecutable = null;
        foreach (var candidate in candidates)
        {
            if (!candidate.StartsWith('/'))
                continue; // relative to the cwd: cannot be checked here, let the exec decide
            if (Resolve(rootfs, candidate, etcDirectory) is not { } host)
                continue;
            if (!SearchableBySandbox(host, ViewRoot(rootfs, host, etcDirectory)))
                return; // the sandbox's exec gets EACCES on the way: its answer, not ours
            if (File.Exists(host) && (File.GetUnixFileMode(host) & AnyExecute) != 0)
                return;
            // A directory, or a file nobody may execute: execve answers EACCES whoever asks; execvp goes on searching.
            if (File.Exists(host) || Directory.Exists(host))
                notExecutable ??= candidate;
        }
        if (notExecutable is not null)
            throw new SandboxException(SandboxErrorCode.PermissionDenied, $"'{notExecutable}' in the sandbox is not an executable file (permission denied)");
        if (!program.StartsWith('/') && program.Contains('/'))
            return;
        throw new SandboxException(SandboxErrorCode.NotFound,
            program.Contains('/') ? $"executable '{program}' not found in the sandbox" : $"executable '{program}' not found in PATH in the sandbox");
    }

    /// <summary>The host directory the sandbox's view of <paramref name="hostPath"/> starts from (what is bound at its
    /// top level, or the prepared /etc).</summary>
    private static string ViewRoot(RootfsSpec rootfs, string hostPath, string? etcDirectory) =>
        etcDirectory is not null && hostPath.StartsWith(etcDirectory.TrimEnd('/') + "/", StringComparison.Ordinal) ? etcDirectory
        : rootfs is DirectoryRootfs d ? d.Path
        : "/";

    /// <summary>Whether every existing directory between <paramref name="viewRoot"/> and <paramref name="hostPath"/>
    /// lets "other" search it: the sandbox's user owns nothing on the host, so these are the bits that apply to it.
    /// Stops at the first missing directory (the sandbox then gets ENOENT, as the lookup says).</summary>
    private static bool SearchableBySandbox(string hostPath, string viewRoot)
    {
        var top = viewRoot.TrimEnd('/');
        var dirs = new List<string>();
        for (var dir = Path.GetDirectoryName(hostPath); dir is not null && dir.Length > top.Length; dir = Path.GetDirectoryName(dir))
            dirs.Add(dir);
        dirs.Reverse();
        foreach (var dir in dirs)
        {
            if (!Directory.Exists(dir))
                return true;
            if ((File.GetUnixFileMode(dir) & UnixFileMode.OtherExecute) == 0)
                return false;
        }
        return true;
    }

    /// <summary>The host path behind a sandbox path, or null when the sandbox does not show it.</summary>
    internal static string? Resolve(RootfsSpec rootfs, string sandboxPath, string? etcDirectory = null)
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
            if (resolved.Count == 0 && rootfs is HostRootfs && !s_hostVisible.Contains(part) && !(part == "etc" && etcDirectory is not null))
                return null;
            var host = HostPath(root, [.. resolved, part], rootfs, etcDirectory);
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
        return HostPath(root, resolved, rootfs, etcDirectory);
    }

    /// <summary>Where the host keeps a sandbox path: under the rootfs, except the host rootfs's /etc, which is the
    /// prepared copy.</summary>
    private static string HostPath(string root, List<string> parts, RootfsSpec rootfs, string? etcDirectory) =>
        rootfs is HostRootfs && etcDirectory is not null && parts.Count > 0 && parts[0] == "etc"
            ? Path.Combine(etcDirectory, Path.Combine([.. parts.Skip(1)]))
            : Path.Combine(root, Path.Combine([.. parts]));
}
