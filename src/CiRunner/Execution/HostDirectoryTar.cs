using System.Diagnostics;
using System.Formats.Tar;

namespace Sandbox.CiRunner.Execution;

/// <summary>Host directories to and from tar streams, a file at a time (never a whole tree in memory). Writing: only
/// directories and regular files (the sandbox import takes nothing else; a symlink is skipped with a warning, never
/// followed). Reading: entries land under the destination only (no absolute names, no '..', no links).</summary>
public static class HostDirectoryTar
{
    /// <summary>The files a checkout copies: in a git work tree, what git tracks plus untracked files not ignored
    /// (`git ls-files -co --exclude-standard`, so build outputs stay behind); otherwise everything but .git.</summary>
    public static IReadOnlyList<string> CheckoutFiles(string root)
    {
        if (Directory.Exists(Path.Combine(root, ".git")) || File.Exists(Path.Combine(root, ".git")))
        {
            var psi = new ProcessStartInfo("git") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            foreach (var a in new[] { "-C", root, "ls-files", "-z", "--cached", "--others", "--exclude-standard" }) psi.ArgumentList.Add(a);
            using var git = Process.Start(psi);
            if (git is not null)
            {
                var output = git.StandardOutput.ReadToEnd();
                git.WaitForExit();
                if (git.ExitCode == 0)
                    return output.Split('\0', StringSplitOptions.RemoveEmptyEntries).Where(f => File.Exists(Path.Combine(root, f)) || IsLink(Path.Combine(root, f))).ToList();
            }
        }
        return Directory.EnumerateFileSystemEntries(root, "*", new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = 0 })
            .Select(p => Path.GetRelativePath(root, p))
            .Where(p => p != ".git" && !p.StartsWith(".git/", StringComparison.Ordinal) && (!Directory.Exists(Path.Combine(root, p)) || IsLink(Path.Combine(root, p))))
            .Order(StringComparer.Ordinal)
            .ToList();
    }

    private static bool IsLink(string path) => new FileInfo(path).LinkTarget is not null;

    /// <summary>Writes <paramref name="files"/> (relative to <paramref name="root"/>) with their parent directories,
    /// each name under <paramref name="prefix"/> (a relative directory, "" for none: the import only creates the
    /// directory it is given, so deeper targets travel as names).</summary>
    public static async Task WriteAsync(string root, IEnumerable<string> files, Stream destination, Action<string> warn, CancellationToken cancellationToken,
        string prefix = "")
    {
        await using var writer = new TarWriter(destination, TarEntryFormat.Pax, leaveOpen: true);
        var dirs = new HashSet<string>(StringComparer.Ordinal);
        prefix = prefix.Trim('/');
        foreach (var name in files)
        {
            var rel = prefix.Length == 0 ? name : $"{prefix}/{name}";
            cancellationToken.ThrowIfCancellationRequested();
            var full = Path.Combine(root, name);
            var info = new FileInfo(full);
            if (info.LinkTarget is not null)
            {
                warn($"skipped symbolic link '{name}' (only files and directories are copied into a sandbox)");
                continue;
            }
            if (!info.Exists) continue;
            var parent = Path.GetDirectoryName(rel);
            var chain = new List<string>();
            for (var d = parent; !string.IsNullOrEmpty(d) && dirs.Add(d); d = Path.GetDirectoryName(d)) chain.Add(d);
            chain.Reverse();
            foreach (var d in chain)
                await writer.WriteEntryAsync(new PaxTarEntry(TarEntryType.Directory, d + "/") { Mode = (UnixFileMode)0b111_101_101 }, cancellationToken).ConfigureAwait(false);
            await using var content = new FileStream(full, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, useAsync: true);
            var entry = new PaxTarEntry(TarEntryType.RegularFile, rel)
            {
                // Keep the executable bits (scripts); the rest is the workload's ordinary rw-r--r--.
                Mode = (info.UnixFileMode & UnixFileMode.UserExecute) != 0 ? (UnixFileMode)0b111_101_101 : (UnixFileMode)0b110_100_100,
                DataStream = content,
            };
            await writer.WriteEntryAsync(entry, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Every file under a host directory (an artifact), for <see cref="WriteAsync"/>.</summary>
    public static IReadOnlyList<string> AllFiles(string root) =>
        Directory.EnumerateFiles(root, "*", new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = 0 })
            .Select(p => Path.GetRelativePath(root, p)).Order(StringComparer.Ordinal).ToList();

    /// <summary>Unpacks a tar stream under <paramref name="destination"/>: directories and regular files only.</summary>
    public static async Task ExtractAsync(Stream source, string destination, CancellationToken cancellationToken)
    {
        Directory.CreateDirectory(destination);
        var root = Path.GetFullPath(destination);
        await using var reader = new TarReader(source, leaveOpen: true);
        while (await reader.GetNextEntryAsync(copyData: false, cancellationToken).ConfigureAwait(false) is { } entry)
        {
            var name = entry.Name.TrimStart('.').TrimStart('/');
            if (name.Length == 0) continue;
            var target = Path.GetFullPath(Path.Combine(root, name));
            if (!target.StartsWith(root + "/", StringComparison.Ordinal) || name.Split('/').Contains(".."))
                throw new InvalidDataException($"tar entry '{entry.Name}' leaves the destination directory");
            switch (entry.EntryType)
            {
                case TarEntryType.Directory:
                    Directory.CreateDirectory(target);
                    break;
                case TarEntryType.RegularFile or TarEntryType.V7RegularFile:
                    Directory.CreateDirectory(Path.GetDirectoryName(target)!);
                    await using (var file = new FileStream(target, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16, useAsync: true))
                    {
                        if (entry.DataStream is { } data)
                            await data.CopyToAsync(file, cancellationToken).ConfigureAwait(false);
                    }
                    break;
                default:
                    // Links and special files from a sandbox are not brought to the host.
                    break;
            }
        }
    }
}
