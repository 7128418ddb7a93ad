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
        Assert.Empty(kernel.ModuleLoadOrder(GuestFeatures.Shares | GuestFeatures.Pod)); // everything built in: the initramfs carries no modules
        Assert.False(GuestKernel.Locate(_cache, preferMinimal: false).IsMinimal);
    }

    /// <summary>A Debian modules tree of stand-in .ko files: each holds its .modinfo "depends=" string, as the real ones.</summary>
    private void FakeModule(string version, string path, string depends)
    {
        var file = Path.Combine(_cache, version, "lib", "modules", version, "kernel", path);
        Directory.CreateDirectory(Path.GetDirectoryName(file)!);
        File.WriteAllBytes(file, System.Text.Encoding.ASCII.GetBytes($"\x7fELF\0license=GPL\0depends={depends}\0vermagic=6.1\0"));
    }

    [Fact]
    public void A_guest_loads_only_the_modules_of_its_devices_dependencies_first()
    {
        const string version = "6.1.0-57-amd64";
        FakeDebianKernel(version);
        FakeModule(version, "drivers/virtio/virtio_ring.ko", "");
        FakeModule(version, "drivers/virtio/virtio.ko", "virtio_ring");
        FakeModule(version, "drivers/virtio/virtio_mmio.ko", "virtio,virtio_ring");
        FakeModule(version, "drivers/char/virtio_console.ko", "virtio,virtio_ring");
        FakeModule(version, "net/9p/9pnet.ko", "");
        FakeModule(version, "net/9p/9pnet_virtio.ko", "9pnet,virtio,virtio_ring");
        FakeModule(version, "fs/9p/9p.ko", "9pnet");
        FakeModule(version, "drivers/block/virtio_blk.ko", "virtio,virtio_ring");
        FakeModule(version, "crypto/crc32c_generic.ko", "");
        FakeModule(version, "lib/libcrc32c.ko", "");
        FakeModule(version, "fs/erofs/erofs.ko", "libcrc32c");
        FakeModule(version, "fs/overlayfs/overlay.ko", "");
        FakeModule(version, "drivers/net/virtio_net.ko", "net_failover,virtio,virtio_ring");
        FakeModule(version, "drivers/net/net_failover.ko", "failover");
        FakeModule(version, "net/core/failover.ko", "");
        FakeModule(version, "drivers/block/loop.ko", "");
        var kernel = GuestKernel.Locate(_cache);
        List<string> Names(GuestFeatures features) => kernel.ModuleLoadOrder(features).Select(m => m.Name).ToList();

        Assert.Equal(["virtio_ring", "virtio", "virtio_mmio", "virtio_console"], Names(GuestFeatures.None));
        // The host userland: 9p only, none of the block, network or pod modules.
        Assert.Equal(["virtio_ring", "virtio", "virtio_mmio", "virtio_console", "9pnet", "9pnet_virtio", "9p"], Names(GuestFeatures.Shares));
        var image = Names(GuestFeatures.RootImage | GuestFeatures.WritableRoot);
        Assert.Equal(["virtio_blk", "crc32c_generic", "libcrc32c", "erofs", "overlay"], image[4..]);
        Assert.Equal(["failover", "net_failover", "virtio_net"], Names(GuestFeatures.Shares | GuestFeatures.Network)[7..]);
        Assert.Equal(["crc32c_generic", "libcrc32c", "erofs", "overlay", "loop"], Names(GuestFeatures.Shares | GuestFeatures.Pod)[7..]);
        Assert.Equal(Path.Combine(_cache, version, "lib", "modules", version, "kernel", "drivers", "block", "loop.ko"),
            kernel.ModuleLoadOrder(GuestFeatures.Pod).Single(m => m.Name == "loop").Path);
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

    /// <summary>The build's steps with a stand-in source tree (its Makefile plays tinyconfig, olddefconfig, vmlinux and
    /// kernelrelease; the real compile is minutes): unpack, merge, check, compile with progress, strip, install, point
    /// current at it, remove the work tree; a second build finds it built.</summary>
    [Fact]
    public async Task A_build_installs_the_kernel_points_current_at_it_and_the_tier_picks_it_up()
    {
        var source = Path.Combine(_cache, "src");
        var tree = Path.Combine(source, "linux-source-6.1");
        Directory.CreateDirectory(Path.Combine(tree, "scripts", "kconfig"));
        File.WriteAllText(Path.Combine(tree, "Makefile"),
            "tinyconfig:\n\t@echo '# tiny' > .config\nolddefconfig:\n\t@true\n" +
            "vmlinux:\n\t@for i in 1 2 3; do echo \"  CC      kernel/f$$i.o\"; done\n\t@cp /bin/true vmlinux\n" +
            "kernelrelease:\n\t@echo 6.1.999\n");
        var merge = Path.Combine(tree, "scripts", "kconfig", "merge_config.sh");
        File.WriteAllText(merge, "#!/bin/sh\ngrep '^CONFIG_' \"$3\" >> .config\n");
        File.SetUnixFileMode(merge, (UnixFileMode)0b111_101_101);
        var tarball = Path.Combine(source, "linux-source-6.1.tar.xz");
        using (var tar = System.Diagnostics.Process.Start("tar", ["-cJf", tarball, "-C", source, "linux-source-6.1"]))
            tar.WaitForExit();
        Directory.Delete(tree, recursive: true);
        FakeDebianKernel("6.1.0-57-amd64");

        var builder = new MinimalKernelBuilder(_cache, tarball);
        var stages = new List<KernelBuildStage>();
        var kernel = await builder.BuildAsync(1, null, keepTree: false, new Recorder(stages), CancellationToken.None);

        Assert.Equal([KernelBuildStage.Unpack, KernelBuildStage.Configure, KernelBuildStage.Compile, KernelBuildStage.Install], stages.Distinct());
        Assert.Equal(Path.Combine(_cache, "minimal", builder.Key, "vmlinux"), kernel.VmlinuxPath);
        Assert.Equal($"6.1.999-minimal-{builder.Key[..8]}", kernel.Version);
        Assert.Equal(builder.Key, new FileInfo(Path.Combine(_cache, "minimal", "current")).LinkTarget);
        Assert.Equal(kernel, GuestKernel.Locate(_cache));
        Assert.False(Directory.Exists(Path.Combine(_cache, "minimal", "build"))); // the work tree is gone
        Assert.Equal(kernel, await builder.BuildAsync(1, null, keepTree: false, null, CancellationToken.None));
    }

    private sealed class Recorder(List<KernelBuildStage> stages) : IProgress<KernelBuildProgress>
    {
        public void Report(KernelBuildProgress value)
        {
            lock (stages) stages.Add(value.Stage);
        }
    }
}
