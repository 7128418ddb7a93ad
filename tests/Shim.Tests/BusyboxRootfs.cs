namespace Sandbox.Shim.Tests;

/// <summary>A minimal root file system: the static busybox and its applet links, passwd and group. Every directory is
/// world-traversable (the container tier reads it as the sandbox's unprivileged host uid).</summary>
public static class BusyboxRootfs
{
    public const string Busybox = "/usr/bin/busybox";

    public static void Build(string root)
    {
        foreach (var dir in new[] { "bin", "proc", "sys", "dev", "etc", "tmp", "root", "run" })
            Directory.CreateDirectory(Path.Combine(root, dir));
        File.Copy(Busybox, Path.Combine(root, "bin/busybox"), overwrite: true);
        var applets = CommandRunner.RunAsync(Busybox, ["--list"]).GetAwaiter().GetResult().Stdout
            .Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        foreach (var applet in applets.Where(a => a != "busybox"))
        {
            var link = Path.Combine(root, "bin", applet);
            if (!File.Exists(link))
                File.CreateSymbolicLink(link, "/bin/busybox");
        }
        File.WriteAllText(Path.Combine(root, "etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n");
        File.WriteAllText(Path.Combine(root, "etc/group"), "root:x:0:\n");
        var mode = (UnixFileMode)0b111_101_101;
        File.SetUnixFileMode(root, mode);
        foreach (var dir in Directory.EnumerateDirectories(root, "*", SearchOption.AllDirectories))
            File.SetUnixFileMode(dir, mode);
        File.SetUnixFileMode(Path.Combine(root, "tmp"), (UnixFileMode)0b1_111_111_111);
    }
}
