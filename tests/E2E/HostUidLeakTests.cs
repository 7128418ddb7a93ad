using Sandbox.Isolation;

namespace Sandbox.E2E;

/// <summary>
/// A file a host user keeps to themselves (0600, owned by host uid 1000, the same number as the sandbox's user) in a
/// directory both tiers are given must stay unreadable on both: the workload's uid 1000 is not that host user. The
/// microVM tier used to export such directories over 9p from a QEMU running as host root (security_model=none), so
/// the guest read them; now the host userland's shares are served by a QEMU jailed as the VM's own unprivileged host
/// uid, and a directory rootfs is a root-owned erofs image.
/// </summary>
public sealed class HostUidLeakTests : IDisposable
{
    private const int HostUser = 1000;
    private readonly string _secret = "secret-" + Guid.NewGuid().ToString("N");
    private readonly List<string> _cleanup = [];

    public static TheoryData<ExecutionMode> Modes => [ExecutionMode.OneShot, ExecutionMode.Agent, ExecutionMode.MicroVm];

    public void Dispose()
    {
        foreach (var path in _cleanup)
            Directory.Delete(path, recursive: true);
    }

    /// <summary>The host rootfs: /opt is shared with both tiers.</summary>
    [Theory, MemberData(nameof(Modes))]
    public async Task A_host_users_private_file_in_a_shared_host_directory_is_unreadable(ExecutionMode mode)
    {
        var dir = $"/opt/sandbox-uid-leak-{Guid.NewGuid():N}";
        Directory.CreateDirectory(dir);
        _cleanup.Add(dir);
        var secret = WriteOwned(Path.Combine(dir, "secret"), _secret, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        WriteOwned(Path.Combine(dir, "public"), "public-" + _secret, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.OtherRead);

        var r = await Harness.RunAsync(mode, Harness.Sh($"cat {secret} 2>&1; echo; cat {dir}/public; echo; id -u"));

        Assert.DoesNotContain(_secret + "\n", r.Stdout.Replace("public-" + _secret, ""));
        Assert.Contains("Permission denied", r.Stdout);
        Assert.Contains("public-" + _secret, r.Stdout); // the share itself works: what "others" may read is readable
        Assert.EndsWith($"\n{HostUser}\n", r.Stdout);
    }

    /// <summary>A directory rootfs (busybox): the same file in the rootfs itself.</summary>
    [Theory, MemberData(nameof(Modes))]
    public async Task A_host_users_private_file_in_a_directory_rootfs_is_unreadable(ExecutionMode mode)
    {
        Assert.True(File.Exists("/bin/busybox"), "busybox-static is not installed (/bin/busybox; scripts/bootstrap.sh installs it)");
        var root = Path.Combine(Path.GetTempPath(), $"sandbox-uid-leak-root-{Guid.NewGuid():N}");
        _cleanup.Add(root);
        Directory.CreateDirectory(Path.Combine(root, "bin"));
        File.Copy("/bin/busybox", Path.Combine(root, "bin", "busybox"));
        foreach (var applet in new[] { "sh", "cat", "id", "ls", "echo" })
            File.CreateSymbolicLink(Path.Combine(root, "bin", applet), "busybox");
        Directory.CreateDirectory(Path.Combine(root, "data"));
        WriteOwned(Path.Combine(root, "data", "secret"), _secret, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        WriteOwned(Path.Combine(root, "data", "public"), "public-" + _secret, UnixFileMode.UserRead | UnixFileMode.OtherRead);
        var spec = new SandboxSpec { Rootfs = RootfsSpec.Directory(root) };

        var r = await Harness.RunAsync(mode, new ProcessSpec { Argv = ["/bin/sh", "-c", "cat /data/secret 2>&1; echo; cat /data/public; echo; id -u"] }, spec);

        Assert.DoesNotContain(_secret + "\n", r.Stdout.Replace("public-" + _secret, ""));
        Assert.Contains("Permission denied", r.Stdout);
        Assert.Contains("public-" + _secret, r.Stdout);
    }

    private static string WriteOwned(string path, string content, UnixFileMode mode)
    {
        File.WriteAllText(path, content);
        File.SetUnixFileMode(path, mode);
        Chown(path, HostUser);
        return path;
    }

    private static void Chown(string path, int uid)
    {
        using var p = System.Diagnostics.Process.Start("/bin/chown", [$"{uid}:{uid}", path]);
        p.WaitForExit();
        Assert.Equal(0, p.ExitCode);
    }
}
