using Sandbox.Isolation.MicroVm;

namespace Sandbox.Isolation.Tests;

/// <summary>The snapshot template cache (without QEMU: the build step is a stand-in) and the command-line identity
/// that keys it.</summary>
public sealed class SnapshotTemplateTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("sandbox-templates-test-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    private static async Task FakeBuild(string dir, CancellationToken ct)
    {
        await Task.Delay(200, ct);
        await File.WriteAllTextAsync(Path.Combine(dir, "ram"), "ram", ct);
        await File.WriteAllTextAsync(Path.Combine(dir, "state"), "state", ct);
    }

    [Fact]
    public async Task Concurrent_builders_of_one_key_build_once_and_leave_nothing_half_done()
    {
        var cache = new SnapshotTemplates(_root);
        var builds = 0;
        var tasks = Enumerable.Range(0, 4).Select(_ => Task.Run(() => cache.GetOrBuildAsync("k1", "id",
            async (dir, ct) => { Interlocked.Increment(ref builds); await FakeBuild(dir, ct); }, TimeSpan.FromSeconds(30), CancellationToken.None)));
        var results = await Task.WhenAll(tasks);
        Assert.Equal(1, builds);
        Assert.All(results, r => Assert.Equal(Path.Combine(_root, "k1"), r.Directory));
        Assert.Equal("ram", File.ReadAllText(results[0].RamPath));
        Assert.Empty(Directory.EnumerateDirectories(_root, "*.build-*"));
    }

    [Fact]
    public async Task A_failed_build_leaves_no_template_and_the_next_one_succeeds()
    {
        var cache = new SnapshotTemplates(_root);
        await Assert.ThrowsAsync<SandboxException>(() => cache.GetOrBuildAsync("k2", "id",
            (_, _) => throw new SandboxException(SandboxErrorCode.Unavailable, "boom"), TimeSpan.FromSeconds(5), CancellationToken.None));
        Assert.Null(cache.TryGet("k2"));
        Assert.Empty(Directory.EnumerateDirectories(_root, "*.build-*"));
        // A builder that died mid-way leaves its directory: the next builder (holding the lock) removes it.
        Directory.CreateDirectory(Path.Combine(_root, "k2.build-1-dead"));
        var t = await cache.GetOrBuildAsync("k2", "id", FakeBuild, TimeSpan.FromSeconds(5), CancellationToken.None);
        Assert.NotNull(cache.TryGet("k2"));
        Assert.True(File.Exists(t.StatePath));
        Assert.Empty(Directory.EnumerateDirectories(_root, "*.build-*"));
    }

    [Fact]
    public async Task A_discarded_template_is_rebuilt_on_next_use()
    {
        var cache = new SnapshotTemplates(_root);
        var t = await cache.GetOrBuildAsync("k3", "id", FakeBuild, TimeSpan.FromSeconds(5), CancellationToken.None);
        cache.Discard(t);
        Assert.Null(cache.TryGet("k3"));
        Assert.Empty(Directory.EnumerateDirectories(_root, "k3.discarded-*"));
        Assert.NotNull(await cache.GetOrBuildAsync("k3", "id", FakeBuild, TimeSpan.FromSeconds(5), CancellationToken.None));
    }

    [Fact]
    public async Task Prune_removes_only_templates_unused_for_long()
    {
        var cache = new SnapshotTemplates(_root);
        var old = await cache.GetOrBuildAsync("old", "id", FakeBuild, TimeSpan.FromSeconds(5), CancellationToken.None);
        var recent = await cache.GetOrBuildAsync("recent", "id", FakeBuild, TimeSpan.FromSeconds(5), CancellationToken.None);
        var kept = await cache.GetOrBuildAsync("kept", "id", FakeBuild, TimeSpan.FromSeconds(5), CancellationToken.None);
        File.SetLastWriteTimeUtc(Path.Combine(old.Directory, "identity"), DateTime.UtcNow.AddDays(-30));
        File.SetLastWriteTimeUtc(Path.Combine(kept.Directory, "identity"), DateTime.UtcNow.AddDays(-30));
        Assert.Equal(1, cache.Prune(TimeSpan.FromDays(7), keep: "kept"));
        Assert.Null(cache.TryGet("old"));
        Assert.NotNull(cache.TryGet("recent"));
        Assert.NotNull(cache.TryGet("kept"));
        cache.Touch(kept);
        Assert.Equal(0, cache.Prune(TimeSpan.FromDays(7), keep: null));
        _ = recent;
    }

    private static QemuCommandLine Cmd(long ram = 256, string share = "/usr", string tag = "usr") => new()
    {
        QemuPath = "/usr/bin/qemu-system-x86_64",
        Accelerator = Accelerator.Tcg,
        MemoryMiB = ram,
        VCpus = 1,
        KernelPath = "/k/vmlinux",
        InitrdPath = "/k/initrd",
        KernelCommandLine = "console=ttyS0",
        AgentSocketPath = "/tmp/a/agent.sock",
        QmpSocketPath = "/tmp/a/qmp.sock",
        Shares = [new VirtioShare(tag, share)],
    };

    [Fact]
    public void Identity_ignores_per_vm_paths_but_not_the_machine()
    {
        var a = Cmd();
        var b = Cmd(share: "/other") with { AgentSocketPath = "/tmp/b/agent.sock", QmpSocketPath = "/tmp/b/qmp.sock", Ram = new RamFile("/x", false) };
        Assert.Equal(a.Identity(), b.Identity());
        Assert.NotEqual(a.Identity(), Cmd(ram: 512).Identity());
        Assert.NotEqual(a.Identity(), Cmd(tag: "opt").Identity());
        Assert.NotEqual(a.Identity(), (a with { VCpus = 2 }).Identity());
        Assert.NotEqual(a.Identity(), (a with { KernelCommandLine = "console=ttyS0 quiet" }).Identity());
        // A root image's disk keeps the size the template's guest probed: each image (its serial) is its own machine.
        Assert.NotEqual((a with { RootImage = new RootImage("aaaa") }).Identity(), (a with { RootImage = new RootImage("bbbb") }).Identity());
    }

    [Fact]
    public void A_kernel_without_acpi_gets_a_machine_without_acpi_and_its_own_template()
    {
        var argv = Cmd().ToArgv();
        Assert.Equal("microvm", argv[argv.ToList().IndexOf("-M") + 1]);
        var noAcpi = (Cmd() with { Acpi = false, Ram = new RamFile("/r", false) }).ToArgv();
        // Without ACPI QEMU writes the virtio-mmio devices onto the kernel command line; with it the minimal kernel finds none.
        Assert.Equal("microvm,acpi=off,memory-backend=ram", noAcpi[noAcpi.ToList().IndexOf("-M") + 1]);
        Assert.NotEqual(Cmd().Identity(), (Cmd() with { Acpi = false }).Identity());
    }

    [Fact]
    public void A_tcg_guest_gets_rdrand_and_its_kernel_trusts_it_so_the_agent_never_waits_for_entropy()
    {
        var argv = Cmd().ToArgv();
        Assert.Equal("qemu64,+rdrand", argv[argv.ToList().IndexOf("-cpu") + 1]);
        var kvm = (Cmd() with { Accelerator = Accelerator.Kvm }).ToArgv();
        Assert.Equal("host", kvm[kvm.ToList().IndexOf("-cpu") + 1]);
        foreach (var accel in new[] { Accelerator.Tcg, Accelerator.Kvm })
            Assert.Contains("random.trust_cpu=on", QemuCommandLine.TunedKernelCommandLine(accel, 2_000_000).Split(' '));
        Assert.Contains("random.trust_cpu=off", QemuCommandLine.TunedKernelCommandLine(Accelerator.Tcg, 2_000_000, trustCpuRng: false).Split(' '));
        // User address randomization stays on unless the host turns it off (MicroVmOptions.GuestAddressSpaceRandomization).
        Assert.DoesNotContain("norandmaps", QemuCommandLine.TunedKernelCommandLine(Accelerator.Tcg, 2_000_000).Split(' '));
        var off = QemuCommandLine.TunedKernelCommandLine(Accelerator.Tcg, 2_000_000, randomizeUserAddresses: false);
        Assert.Contains("norandmaps", off.Split(' '));
        Assert.NotEqual(Cmd().Identity(), (Cmd() with { KernelCommandLine = off }).Identity());
    }

    [Fact]
    public void Root_image_is_a_read_only_disk_given_by_descriptor_and_named_by_serial()
    {
        var argv = (Cmd() with { RootImage = new RootImage("0123456789abcdef0123") }).ToArgv();
        Assert.Contains($"fd={VmmJail.RootImageFd},set=1,opaque=rootfs", argv);
        Assert.Contains("file=/dev/fdset/1,if=none,id=rootfs,format=raw,readonly=on", argv);
        Assert.Contains("virtio-blk-device,drive=rootfs,serial=0123456789abcdef0123", argv);
        Assert.DoesNotContain(argv, a => a.Contains("nokaslr"));
    }

    [Fact]
    public void A_cni_pods_nic_is_on_the_tap_descriptor_with_the_pods_mac()
    {
        var mac = System.Net.NetworkInformation.PhysicalAddress.Parse("0A-58-0A-C8-07-02");
        var argv = (Cmd() with { Tap = new TapNic(mac) }).ToArgv().ToList();
        Assert.Equal($"tap,id=net0,fd={VmmJail.TapFd},vhost=off", argv[argv.IndexOf("-netdev") + 1]);
        Assert.Equal("virtio-net-device,netdev=net0,mac=0a:58:0a:c8:07:02", argv[argv.LastIndexOf("-device") + 1]);
        // No descriptor of the jail's is reused, and QEMU never opens a tap by name (ifname=, script=).
        Assert.Equal(5, new[] { 4, 5, VmmJail.RootImageFd, VmmJail.TemplateRamFd, VmmJail.TapFd }.Distinct().Count());
        Assert.DoesNotContain(argv, a => a.Contains("ifname=") || a.Contains("script="));
        // One network device: passt's socket or the pod's tap.
        var e = Assert.Throws<SandboxException>(() => (Cmd() with { Tap = new TapNic(mac), NetworkSocketPath = "/n/passt.sock" }).ToArgv());
        Assert.Equal(SandboxErrorCode.Internal, e.Code);
    }

    [Fact]
    public void Restore_command_line_maps_the_template_ram_privately_and_waits_for_the_state()
    {
        var argv = (Cmd() with { Ram = new RamFile("/t/ram", Shared: false), IncomingDefer = true }).ToArgv();
        Assert.Contains("memory-backend-file,id=ram,size=256M,mem-path=/t/ram,share=off", argv);
        Assert.Contains("microvm,memory-backend=ram", argv);
        Assert.Equal("defer", argv[argv.ToList().IndexOf("-incoming") + 1]);
        Assert.DoesNotContain("-kernel", argv);
        var template = (Cmd() with { Ram = new RamFile("/t/ram", Shared: true) }).ToArgv();
        Assert.Contains("memory-backend-file,id=ram,size=256M,mem-path=/t/ram,share=on", template);
        Assert.DoesNotContain("-incoming", template);
        Assert.Contains("-kernel", template);
    }
}
