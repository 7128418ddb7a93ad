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
}
