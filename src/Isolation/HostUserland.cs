using System.Security.Cryptography;
using System.Text;

namespace Sandbox.Isolation;

/// <summary>What the "host" rootfs shows of the host, for both tiers: the userland directories and the subset of /etc
/// programs need to run, nothing about the host's accounts or secrets (passwd and group are generated).</summary>
internal static class HostUserland
{
    public static readonly string[] TopLevel = ["usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32", "opt"];

    public static readonly string[] EtcEntries =
    [
        "ld.so.cache", "ld.so.conf", "ld.so.conf.d", "alternatives", "localtime", "timezone", "ssl", "ca-certificates",
        "ca-certificates.conf", "nsswitch.conf", "hosts", "host.conf", "gai.conf", "mime.types", "protocols", "services",
        "python3", "python3.11", "perl", "bash.bashrc", "profile", "inputrc", "magic", "debian_version", "os-release",
        "java-17-openjdk", "gcc", "fonts", "xdg",
    ];

    public static string PasswdFile(int uid, string workDir) =>
        $"root:x:0:0:root:/root:/usr/sbin/nologin\nsandbox:x:{uid}:{uid}:sandbox:{workDir}:/bin/sh\n" +
        "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n";

    public static string GroupFile(int gid) => $"root:x:0:\nsandbox:x:{gid}:\nnogroup:x:65534:\n";

    private static readonly Lock s_etcLock = new();
    private static (string Key, string Dir, long CheckedAt) s_lastEtc;
    private static readonly TimeSpan s_etcRecheck = TimeSpan.FromSeconds(10);

    /// <summary>A directory to show as the sandbox's /etc: a copy of <see cref="EtcEntries"/> (symlinks kept as
    /// symlinks, never followed; only files every user may read on the host) plus generated passwd, group and
    /// hostname and resolv.conf. Cached under <paramref name="cacheDirectory"/>/guest-etc by a digest of the generated files, of the
    /// top-level entries' path, size and mtime and of every directory's mtime below them (so an updated certificate
    /// makes a new copy); the digest is recomputed at most every 10 s. One read-only bind of it costs bwrap far less than binding ~30 entries.</summary>
    public static string PrepareEtc(string cacheDirectory, int uid, string workDir)
    {
        var passwd = PasswdFile(uid, workDir);
        var group = GroupFile(uid);
        var resolv = Network.SandboxAddresses.ResolvConf;
        var key = cacheDirectory + "\0" + passwd + group + resolv;
        lock (s_etcLock)
        {
            if (s_lastEtc.Key == key && Environment.TickCount64 - s_lastEtc.CheckedAt < (long)s_etcRecheck.TotalMilliseconds && Directory.Exists(s_lastEtc.Dir))
                return s_lastEtc.Dir;
            using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            hash.AppendData(Encoding.UTF8.GetBytes(passwd + group + resolv));
            foreach (var name in EtcEntries)
                AppendStamp(hash, Path.Combine("/etc", name));
            var dir = Path.Combine(cacheDirectory, "guest-etc", Convert.ToHexStringLower(hash.GetHashAndReset())[..24]);
            if (!Directory.Exists(dir))
            {
                var temp = dir + "." + Environment.ProcessId + ".tmp";
                if (Directory.Exists(temp)) Directory.Delete(temp, recursive: true);
                Directory.CreateDirectory(temp);
                foreach (var name in EtcEntries)
                    CopyEntry(Path.Combine("/etc", name), Path.Combine(temp, name));
                File.WriteAllText(Path.Combine(temp, "passwd"), passwd);
                File.WriteAllText(Path.Combine(temp, "group"), group);
                File.WriteAllText(Path.Combine(temp, "hostname"), "sandbox\n");
                // The sandbox network's resolver (docs/network.md); without egress nothing answers there.
                File.WriteAllText(Path.Combine(temp, "resolv.conf"), resolv);
                File.SetUnixFileMode(temp, (UnixFileMode)0b111_101_101);
                try
                {
                    Directory.Move(temp, dir);
                }
                catch (IOException) when (Directory.Exists(dir))
                {
                    Directory.Delete(temp, recursive: true); // another process made the same copy first
                }
            }
            s_lastEtc = (key, dir, Environment.TickCount64);
            return dir;
        }
    }

    /// <summary>Path, link target, size and mtime of an entry and, for directories, of the directories below it: a
    /// file added, removed or replaced anywhere (what package managers do) changes its directory's mtime. Files are not
    /// walked one by one below the top level (~900 entries here), which would cost a CLI run several milliseconds; a
    /// file edited in place deep inside keeps the old copy until something else changes.</summary>
    private static void AppendStamp(IncrementalHash hash, string path)
    {
        var info = new FileInfo(path);
        var isDirectory = info.LinkTarget is null && !info.Exists && Directory.Exists(path);
        if (info.LinkTarget is null && !info.Exists && !isDirectory)
            return;
        var mtime = isDirectory ? Directory.GetLastWriteTimeUtc(path) : info.LastWriteTimeUtc;
        hash.AppendData(Encoding.UTF8.GetBytes($"{path}\0{info.LinkTarget}\0{(info.Exists ? info.Length : -1)}\0{mtime.Ticks}\0"));
        if (isDirectory)
        {
            foreach (var child in Directory.EnumerateDirectories(path).Order(StringComparer.Ordinal))
            {
                if (new DirectoryInfo(child).LinkTarget is null)
                    AppendStamp(hash, child);
            }
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
            // Only what every user may read on the host is copied: nothing secret leaks into the sandbox.
            var mode = File.GetUnixFileMode(source);
            if ((mode & UnixFileMode.OtherRead) == 0) return;
            File.Copy(source, destination);
        }
    }
}
