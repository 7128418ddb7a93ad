using Sandbox.Isolation.MicroVm.Kernel;

namespace Sandbox.Isolation.Tests;

/// <summary>Which guest kernel the microVM tier boots (file layout only; tests/E2E boots the built one), and the
/// minimal kernel's config fragment and its check.</summary>
public sealed class GuestKernelTests : IDisposable
{
    private readonly string _cache = Directory.CreateTempSubdirectory("sandbox-kernel-cache-test-").FullName;

    public void Dispose() => Directory.Delete(_cache, recursive: true);

    private void FakeDebianKernel(string version)
    {
        Directory.CreateDirectory(Path.Combine(_cache, version, "lib", "modules", version));
        File.WriteAllText(Path.Combine(_cache, version, "vmlinux"), "debian");
        File.CreateSymbolicLink(Path.Combine(_cache, "current"), version);
    }

    private string FakeMinimalKernel(string key, string release)
    {
        var dir = Path.Combine(_cache, "minimal", key);
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, "vmlinux"), "minimal");
        File.WriteAllText(Path.Combine(dir, "release"), release + "\n");
        File.CreateSymbolicLink(Path.Combine(_cache, "minimal", "current"), key);
        return dir;
    }

    [Fact]
    public void Debian_kernel_is_booted_while_no_minimal_kernel_is_built()
    {
        FakeDebianKernel("6.1.0-57-amd64");
        var kernel = GuestKernel.Locate(_cache);
        Assert.False(kernel.IsMinimal);
        Assert.Equal("6.1.0-57-amd64", kernel.Version);
        Assert.Equal(Path.Combine(_cache, "6.1.0-57-amd64", "vmlinux"), kernel.VmlinuxPath);
    }

    [Fact]
    public void A_built_minimal_kernel_is_chosen_unless_the_options_say_debian()
    {
        FakeDebianKernel("6.1.0-57-amd64");
        var dir = FakeMinimalKernel("0123456789abcdef0123456789abcdef", "6.1.192");
        var kernel = GuestKernel.Locate(_cache);
        Assert.True(kernel.IsMinimal);
        Assert.Equal(Path.Combine(dir, "vmlinux"), kernel.VmlinuxPath);
        Assert.Equal("6.1.192-minimal-01234567", kernel.Version);
        Assert.Empty(kernel.ModuleLoadOrder()); // everything built in: the initramfs carries no modules
        Assert.False(GuestKernel.Locate(_cache, preferMinimal: false).IsMinimal);
    }

    [Fact]
    public void A_half_installed_minimal_kernel_is_not_chosen()
    {
        FakeDebianKernel("6.1.0-57-amd64");
        var dir = FakeMinimalKernel("0123456789abcdef0123456789abcdef", "6.1.192");
        File.Delete(Path.Combine(dir, "release"));
        Assert.False(GuestKernel.Locate(_cache).IsMinimal);
    }

    [Fact]
    public void The_fragment_is_embedded_with_what_the_guest_needs()
    {
        foreach (var option in new[] { "CONFIG_PVH", "CONFIG_VIRTIO_MMIO_CMDLINE_DEVICES", "CONFIG_VIRTIO_CONSOLE", "CONFIG_VIRTIO_BLK",
                     "CONFIG_EROFS_FS", "CONFIG_9P_FS", "CONFIG_NET_9P_VIRTIO", "CONFIG_OVERLAY_FS", "CONFIG_TMPFS", "CONFIG_DEVTMPFS",
                     "CONFIG_MEMCG", "CONFIG_CGROUP_PIDS", "CONFIG_SECCOMP_FILTER", "CONFIG_USER_NS", "CONFIG_PID_NS" })
            Assert.Contains(option, MinimalKernelBuilder.RequiredOptions);
        Assert.DoesNotContain(MinimalKernelBuilder.Fragment.Split('\n'), l => l.Trim() == "CONFIG_MODULES=y");
    }

    [Fact]
    public void A_merged_config_missing_fragment_options_is_refused_with_their_names()
    {
        var config = Path.Combine(_cache, ".config");
        File.WriteAllLines(config, MinimalKernelBuilder.RequiredOptions.Where(o => o is not "CONFIG_EROFS_FS" and not "CONFIG_PVH").Select(o => o + "=y")
            .Append("# CONFIG_EROFS_FS is not set"));
        var e = Assert.Throws<SandboxException>(() => MinimalKernelBuilder.CheckConfig(config));
        Assert.Contains("2 option(s)", e.Message);
        Assert.Contains("CONFIG_EROFS_FS", e.Message);
        Assert.Contains("CONFIG_PVH", e.Message);

        File.WriteAllLines(config, MinimalKernelBuilder.RequiredOptions.Select(o => o + "=y"));
        MinimalKernelBuilder.CheckConfig(config);
    }

    [Fact]
    public void The_build_key_follows_the_source_tarball()
    {
        var tarball = Path.Combine(_cache, "linux-source-6.1.tar.xz");
        File.WriteAllText(tarball, "one");
        var first = new MinimalKernelBuilder(_cache, tarball).Key;
        Assert.Equal(first, new MinimalKernelBuilder(_cache, tarball).Key);
        File.WriteAllText(tarball, "other");
        Assert.NotEqual(first, new MinimalKernelBuilder(_cache, tarball).Key);
        var e = Assert.Throws<SandboxException>(() => new MinimalKernelBuilder(_cache, Path.Combine(_cache, "missing.tar.xz")).Key);
        Assert.Contains("apt-get install linux-source-6.1", e.Message);
    }
}
