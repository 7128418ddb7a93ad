using System.Security.Cryptography;
using System.Text;
using Sandbox.AgentProtocol.V1;

namespace Sandbox.Isolation.MicroVm;

/// <summary>
/// What the guest sees as its root, from a <see cref="RootfsSpec"/>, as virtio-9p shares plus the SetupGuest request
/// that assembles them inside the guest.
/// - host: one read-only share per real top-level userland directory (usr, opt, ...; Debian's /bin, /lib, /lib64,
///   /sbin are symlinks into /usr and are recreated as such) and one share of a prepared /etc directory holding only
///   the entries the container tier shows plus a generated passwd and group (cached under CacheDirectory/guest-etc by
///   digest). Nothing else of the host is exported.
/// - directory: the directory as one share, each top-level entry bound into place (files included).
/// Writable: /tmp and the work dir, size-capped tmpfs, as in the container tier.
/// </summary>
internal static class GuestRootfs
{
    private static readonly HashSet<string> s_provided = ["proc", "dev", "tmp", "run", "sys"];
    private static readonly Lock s_etcLock = new();

    public sealed record Layout(IReadOnlyList<VirtioShare> Shares, IReadOnlyList<GuestMount> Mounts, IReadOnlyList<GuestSymlink> Symlinks);

    public static Layout Build(RootfsSpec rootfs, string workDir, int uid, string cacheDirectory)
    {
        var shares = new List<VirtioShare>();
        var mounts = new List<GuestMount>();
        var symlinks = new List<GuestSymlink>();
        switch (rootfs)
        {
            case HostRootfs:
                foreach (var name in HostUserland.TopLevel)
                {
                    var path = Path.Combine("/", name);
                    var info = new DirectoryInfo(path);
                    if (info.LinkTarget is { } target)
                        symlinks.Add(new GuestSymlink { Target = target, Path = "/" + name });
                    else if (info.Exists)
                    {
                        shares.Add(new VirtioShare(name, path));
                        mounts.Add(new GuestMount { Tag = name, Path = "/" + name });
                    }
                }
                shares.Add(new VirtioShare("etc", PrepareEtc(cacheDirectory, uid, workDir)));
                mounts.Add(new GuestMount { Tag = "etc", Path = "/etc" });
                break;
            case DirectoryRootfs dir:
                shares.Add(new VirtioShare("root", dir.Path));
                foreach (var entry in new DirectoryInfo(dir.Path).EnumerateFileSystemInfos())
                {
                    if (s_provided.Contains(entry.Name) || entry.Name == workDir.TrimStart('/'))
                        continue;
                    if (entry.LinkTarget is { } target)
                        symlinks.Add(new GuestSymlink { Target = target, Path = "/" + entry.Name });
                    else
                        mounts.Add(new GuestMount { Tag = "root", Path = "/" + entry.Name, Subpath = entry.Name });
                }
                break;
            default:
                throw new SandboxException(SandboxErrorCode.Unimplemented, $"rootfs kind {rootfs.GetType().Name} is not supported by the microVM tier");
        }
        return new Layout(shares, mounts, symlinks);
    }

    /// <summary>A copy of the host's /etc subset (symlinks kept as symlinks, never followed) with generated accounts.</summary>
    private static string PrepareEtc(string cacheDirectory, int uid, string workDir)
    {
        var passwd = HostUserland.PasswdFile(uid, workDir);
        var group = HostUserland.GroupFile(uid);
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        hash.AppendData(Encoding.UTF8.GetBytes(passwd + group));
        foreach (var name in HostUserland.EtcEntries)
        {
            var info = new FileInfo(Path.Combine("/etc", name));
            if (info.LinkTarget is null && !info.Exists && !Directory.Exists(info.FullName)) continue;
            hash.AppendData(Encoding.UTF8.GetBytes($"{name}\0{info.LinkTarget}\0{(info.Exists ? info.Length : -1)}\0{info.LastWriteTimeUtc.Ticks}\0"));
        }
        var dir = Path.Combine(cacheDirectory, "guest-etc", Convert.ToHexStringLower(hash.GetHashAndReset())[..24]);
        lock (s_etcLock)
        {
            if (Directory.Exists(dir)) return dir;
            var temp = dir + "." + Environment.ProcessId + ".tmp";
            if (Directory.Exists(temp)) Directory.Delete(temp, recursive: true);
            Directory.CreateDirectory(temp);
            foreach (var name in HostUserland.EtcEntries)
                CopyEntry(Path.Combine("/etc", name), Path.Combine(temp, name));
            File.WriteAllText(Path.Combine(temp, "passwd"), passwd);
            File.WriteAllText(Path.Combine(temp, "group"), group);
            File.WriteAllText(Path.Combine(temp, "hostname"), "sandbox\n");
            File.SetUnixFileMode(temp, (UnixFileMode)0b111_101_101);
            Directory.Move(temp, dir);
            return dir;
        }
    }

    private static void CopyEntry(string source, string destination)
    {
        var info = new FileInfo(source);
        if (info.LinkTarget is { } target)
        {
            File.CreateSymbolicLink(destination, target);
        }
        else if (Directory.Exists(source))
        {
            Directory.CreateDirectory(destination);
            File.SetUnixFileMode(destination, File.GetUnixFileMode(source));
            foreach (var child in Directory.EnumerateFileSystemEntries(source))
                CopyEntry(child, Path.Combine(destination, Path.GetFileName(child)));
        }
        else if (info.Exists)
        {
            // Only what every user may read on the host is copied: nothing secret leaks into the share.
            var mode = File.GetUnixFileMode(source);
            if ((mode & UnixFileMode.OtherRead) == 0) return;
            File.Copy(source, destination);
        }
    }
}
