using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;

namespace Sandbox.Isolation.MicroVm;

/// <summary>
/// A directory rootfs as a read-only erofs image (mkfs.erofs, Debian's erofs-utils), the microVM's root disk instead
/// of a 9p export of the directory: QEMU serves a block device it reads through a descriptor (no host path lookups,
/// no 9p server), and the guest sees ownership we chose: every file owned by root (--all-root), the directory's
/// permission bits kept. The workload (uid 1000, no capabilities) can then read exactly what the container tier's
/// sandbox user (an unmapped host uid, "others" to every file) can: a 0600 file of any host user is unreadable in both.
/// Built once per content and cached as CacheDirectory/vm-rootfs/&lt;digest&gt;.erofs (root-only 0600, under a 0700
/// directory: the image holds files no host user other than their owners may read). The digest covers the tree's
/// names, types, permission bits, sizes, modification times and link targets, so a changed directory gets a new image.
/// </summary>
internal static class RootfsImage
{
    public sealed record Image(string Path, string Digest)
    {
        /// <summary>The virtio-blk serial (at most 20 characters) naming this image's disk to the guest.</summary>
        public string Serial => Digest[..20];
    }

    private static readonly Lock s_lock = new();
    private static readonly TimeSpan s_buildTimeout = TimeSpan.FromMinutes(10);

    public static Image GetOrBuild(string cacheDirectory, string directory, string mkfsPath)
    {
        if (!Directory.Exists(directory))
            throw new SandboxException(SandboxErrorCode.InvalidArgument, $"rootfs directory {directory} does not exist");
        var digest = Digest(directory);
        var dir = Path.Combine(cacheDirectory, "vm-rootfs");
        var path = Path.Combine(dir, digest + ".erofs");
        lock (s_lock)
        {
            if (File.Exists(path)) return new Image(path, digest);
            Directory.CreateDirectory(dir, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            File.SetUnixFileMode(dir, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            RemoveDeadBuilds(dir);
            var temp = $"{path}.{Environment.ProcessId}.tmp";
            try
            {
                Run(mkfsPath, ["--all-root", "-T0", "--quiet", temp, directory]);
                File.SetUnixFileMode(temp, UnixFileMode.UserRead | UnixFileMode.UserWrite);
                File.Move(temp, path, overwrite: true);
            }
            finally
            {
                File.Delete(temp);
            }
            return new Image(path, digest);
        }
    }

    /// <summary>Half-written images of builders that died (&lt;digest&gt;.erofs.&lt;pid&gt;.tmp whose pid is gone).</summary>
    private static void RemoveDeadBuilds(string dir)
    {
        foreach (var temp in Directory.EnumerateFiles(dir, "*.tmp"))
        {
            var parts = Path.GetFileName(temp).Split('.');
            if (parts.Length >= 3 && int.TryParse(parts[^2], out var pid) && !Directory.Exists($"/proc/{pid}"))
                File.Delete(temp);
        }
    }

    /// <summary>The digest of a directory tree's metadata (not following links), 32 hex digits.</summary>
    public static string Digest(string directory)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        hash.AppendData("erofs-rootfs-v1\0"u8);
        var pending = new Stack<string>();
        pending.Push(directory);
        while (pending.Count > 0)
        {
            var current = pending.Pop();
            var entries = new DirectoryInfo(current).EnumerateFileSystemInfos().OrderBy(e => e.Name, StringComparer.Ordinal).ToList();
            foreach (var entry in entries)
            {
                var relative = Path.GetRelativePath(directory, entry.FullName);
                var kind = entry.LinkTarget is not null ? 'l' : entry is DirectoryInfo ? 'd' : 'f';
                var line = new StringBuilder(relative).Append('\0').Append(kind).Append('\0').Append((int)entry.UnixFileMode)
                    .Append('\0').Append(entry is FileInfo f && kind == 'f' ? f.Length : 0).Append('\0')
                    .Append(entry.LastWriteTimeUtc.Ticks).Append('\0').Append(entry.LinkTarget).Append('\n');
                hash.AppendData(Encoding.UTF8.GetBytes(line.ToString()));
                if (kind == 'd') pending.Push(entry.FullName);
            }
        }
        return Convert.ToHexStringLower(hash.GetHashAndReset())[..32];
    }

    private static void Run(string program, IReadOnlyList<string> args)
    {
        var info = new ProcessStartInfo(program) { RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var a in args) info.ArgumentList.Add(a);
        using var process = Process.Start(info)
            ?? throw new SandboxException(SandboxErrorCode.Unavailable, $"cannot start {program}");
        var stderr = process.StandardError.ReadToEndAsync();
        var stdout = process.StandardOutput.ReadToEndAsync();
        if (!process.WaitForExit(s_buildTimeout))
        {
            process.Kill();
            process.WaitForExit();
            throw new SandboxException(SandboxErrorCode.Unavailable, $"{program} did not finish within {s_buildTimeout.TotalMinutes} minutes");
        }
        if (process.ExitCode != 0)
            throw new SandboxException(SandboxErrorCode.Unavailable,
                $"{program} {string.Join(' ', args)} failed with exit code {process.ExitCode}: {stderr.Result.Trim()} {stdout.Result.Trim()}");
    }
}
