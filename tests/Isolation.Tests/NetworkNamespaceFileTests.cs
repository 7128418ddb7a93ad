using System.Diagnostics;
using Sandbox.Isolation.Network;

namespace Sandbox.Isolation.Tests;

/// <summary>What a sandbox may be asked to join as an orchestrator's network namespace (CRI's /var/run/netns/cni-…):
/// only a network namespace's own nsfs mount — not a symlink to one, not a regular file, not another kind of
/// namespace, never the host's own — and, when it is joined, still the namespace that was checked. Real namespaces
/// and mounts (root: `ip netns add`, `mount --bind`).</summary>
public sealed class NetworkNamespaceFileTests : IDisposable
{
    private readonly string _name = "sbxt-" + Guid.NewGuid().ToString("N")[..8];
    private readonly string _dir = Directory.CreateTempSubdirectory("netnsfile-").FullName;
    private readonly List<string> _mounts = [];

    private string NetnsPath => "/run/netns/" + _name;

    [Fact]
    public void A_network_namespace_mount_is_accepted_and_opened_as_itself()
    {
        HostProgram.Run("ip", "netns", "add", _name);
        var file = NetworkNamespaceFile.Open(NetnsPath);
        using var handle = file.OpenNetworkNamespace();
        // The descriptor is that namespace: the same inode as the mount's.
        var viaFd = new FileInfo($"/proc/self/fd/{handle.DangerousGetHandle()}").LinkTarget;
        Assert.Equal(NetnsPath, viaFd);
    }

    [Fact]
    public void A_symlink_to_one_is_refused_naming_it()
    {
        HostProgram.Run("ip", "netns", "add", _name);
        var link = Path.Combine(_dir, "link");
        File.CreateSymbolicLink(link, NetnsPath);
        var e = Assert.Throws<SandboxException>(() => NetworkNamespaceFile.Open(link));
        Assert.Equal(SandboxErrorCode.InvalidArgument, e.Code);
        Assert.Contains("is a symbolic link", e.Message);
        // /proc/PID/ns/net is a (magic) link as well: refused the same way.
        Assert.Contains("is a symbolic link", Assert.Throws<SandboxException>(() => NetworkNamespaceFile.Open("/proc/self/ns/net")).Message);
    }

    [Fact]
    public void A_regular_file_or_another_kind_of_namespace_is_refused()
    {
        var plain = Path.Combine(_dir, "plain");
        File.WriteAllText(plain, "");
        Assert.Contains("is not a namespace", Assert.Throws<SandboxException>(() => NetworkNamespaceFile.Open(plain)).Message);
        var uts = Path.Combine(_dir, "uts");
        File.WriteAllText(uts, "");
        BindMount("/proc/self/ns/uts", uts);
        Assert.Contains("not a network namespace", Assert.Throws<SandboxException>(() => NetworkNamespaceFile.Open(uts)).Message);
        Assert.Equal(SandboxErrorCode.NotFound, Assert.Throws<SandboxException>(() => NetworkNamespaceFile.Open(Path.Combine(_dir, "absent"))).Code);
        Assert.Equal(SandboxErrorCode.InvalidArgument, Assert.Throws<SandboxException>(() => NetworkNamespaceFile.Open("/run/netns/../netns/x")).Code);
    }

    [Fact]
    public void The_hosts_own_network_namespace_is_refused_even_as_a_mount()
    {
        var host = Path.Combine(_dir, "host");
        File.WriteAllText(host, "");
        BindMount("/proc/self/ns/net", host);
        var e = Assert.Throws<SandboxException>(() => NetworkNamespaceFile.Open(host));
        Assert.Equal(SandboxErrorCode.PermissionDenied, e.Code);
        Assert.Contains("the host's own network namespace", e.Message);
    }

    [Fact]
    public void A_namespace_replaced_after_the_check_is_not_joined()
    {
        HostProgram.Run("ip", "netns", "add", _name);
        var file = NetworkNamespaceFile.Open(NetnsPath);
        // The checked namespace is held alive by the test: a freed namespace's inode number is handed to the next one
        // made, and the replacement would then be indistinguishable from it (it is, to the kernel, a new namespace
        // under the old name and number — not the swap this test is about).
        using var checkedNamespace = File.OpenHandle(NetnsPath);
        HostProgram.Run("ip", "netns", "delete", _name);
        HostProgram.Run("ip", "netns", "add", _name);
        var e = Assert.Throws<SandboxException>(() => file.OpenNetworkNamespace());
        Assert.Contains("no longer the namespace that was checked", e.Message);
    }

    private void BindMount(string source, string target)
    {
        HostProgram.Run("mount", "--bind", source, target);
        _mounts.Add(target);
    }

    private static string Inode(string path) => HostProgram.Run("stat", "-L", "-c", "%i", path).Trim();

    public void Dispose()
    {
        foreach (var m in _mounts)
            Process.Start("umount", m)!.WaitForExit();
        if (File.Exists(NetnsPath))
            Process.Start("ip", ["netns", "delete", _name])!.WaitForExit();
        Directory.Delete(_dir, recursive: true);
    }
}
