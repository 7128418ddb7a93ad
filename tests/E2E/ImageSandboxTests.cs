using System.Formats.Tar;
using Sandbox.Isolation;
using Sandbox.Isolation.Images;

namespace Sandbox.E2E;

/// <summary>A busybox image built by the test (from busybox-static), imported into a store kept under
/// /var/cache/sandbox/e2e-images (imports of the same content reuse the unpacked root), run on every path.</summary>
public sealed class BusyboxImage
{
    public const string StoreRoot = "/var/cache/sandbox/e2e-images";
    private const string Busybox = "/bin/busybox";
    private static readonly string[] s_applets = ["sh", "cat", "ls", "dd", "id", "echo", "touch", "mkdir", "rm", "stat", "grep", "df", "wc"];

    // One import per test process: several test classes use this fixture, and the store refuses a second writer
    // instead of waiting for it.
    private static readonly Lazy<Task<ResolvedImage>> s_image = new(ImportAsync);

    public static string? Missing => File.Exists(Busybox) ? null : $"{Busybox} is missing (apt-get install busybox-static)";

    public Task<ResolvedImage> GetAsync() => s_image.Value;

    private static async Task<ResolvedImage> ImportAsync()
    {
        var store = new ImageStore(new ImageStoreOptions { Root = StoreRoot });
        var tar = Path.Combine(Path.GetTempPath(), $"busybox-image-{Guid.NewGuid():N}.tar");
        try
        {
            await using (var stream = File.Create(tar))
            await using (var writer = new TarWriter(stream, TarEntryFormat.Pax))
            {
                foreach (var dir in new[] { "bin", "etc" })
                    await writer.WriteEntryAsync(new PaxTarEntry(TarEntryType.Directory, dir) { Mode = (UnixFileMode)0b111_101_101 });
                // World-writable like /tmp: the unprivileged workload may write here, into the sandbox's upper layer.
                await writer.WriteEntryAsync(new PaxTarEntry(TarEntryType.Directory, "data") { Mode = (UnixFileMode)0b1_111_111_111 });
                await writer.WriteEntryAsync(new PaxTarEntry(TarEntryType.RegularFile, "etc/image-marker")
                    { Mode = (UnixFileMode)0b110_100_100, DataStream = new MemoryStream("from the image\n"u8.ToArray()) });
                await writer.WriteEntryAsync(new PaxTarEntry(TarEntryType.RegularFile, "bin/busybox")
                    { Mode = (UnixFileMode)0b111_101_101, DataStream = File.OpenRead(Busybox) });
                foreach (var applet in s_applets)
                    await writer.WriteEntryAsync(new PaxTarEntry(TarEntryType.SymbolicLink, "bin/" + applet) { LinkName = "busybox" });
            }
            await store.ImportAsync(tar, "e2e/busybox:1", null, CancellationToken.None, new ImageDefaults { Env = ["PATH=/bin", "FROM_IMAGE=yes"] });
            return store.Resolve("e2e/busybox:1");
        }
        finally
        {
            File.Delete(tar);
        }
    }
}

public sealed class ImageSandboxTests(BusyboxImage busybox) : IClassFixture<BusyboxImage>
{
    public static TheoryData<ExecutionMode> Modes => [ExecutionMode.OneShot, ExecutionMode.Agent, ExecutionMode.MicroVm];
    public static TheoryData<ExecutionMode> ContainerModes => [ExecutionMode.OneShot, ExecutionMode.Agent];

    private async Task<SandboxSpec> SpecAsync(long diskMiB = 16)
    {
        var image = await busybox.GetAsync();
        return new SandboxSpec
        {
            Rootfs = RootfsSpec.Image(image.RootfsDirectory, image.RootfsKey),
            Env = image.Record.Defaults.EnvMap(),
            Limits = ResourceLimits.Default with { DiskMiB = diskMiB, FileSizeMiB = 256 },
        };
    }

    [BusyboxTheory, MemberData(nameof(Modes))]
    public async Task The_image_is_the_root_and_its_env_applies(ExecutionMode mode)
    {
        var result = await Harness.RunAsync(mode, Harness.Sh("cat /etc/image-marker; echo $FROM_IMAGE; ls /bin/busybox"), await SpecAsync());
        Assert.Equal(0, result.Status.ExitCode);
        Assert.Equal("from the image\nyes\n/bin/busybox\n", result.Stdout);
    }

    [BusyboxTheory, MemberData(nameof(Modes))]
    public async Task Writes_go_to_a_private_upper_layer_and_never_reach_the_store(ExecutionMode mode)
    {
        var spec = await SpecAsync();
        var image = await busybox.GetAsync();
        var first = await Harness.RunAsync(mode, Harness.Sh("echo mine > /data/written && cat /data/written && ls /data"), spec);
        Assert.Equal(0, first.Status.ExitCode);
        Assert.Equal("mine\nwritten\n", first.Stdout);
        // A second sandbox of the same image starts from the image again; the store's root never saw the write.
        var second = await Harness.RunAsync(mode, Harness.Sh("ls /data | wc -l"), spec with { Id = SandboxId.New() });
        Assert.Equal("0", second.Stdout.Trim());
        Assert.Empty(Directory.EnumerateFileSystemEntries(Path.Combine(image.RootfsDirectory, "data")));
        // The overlay lived in the sandbox's own mount namespace (or the guest): nothing of it on the host.
        Assert.DoesNotContain(image.RootfsDirectory, await File.ReadAllTextAsync("/proc/self/mountinfo"));
    }

    [BusyboxTheory, MemberData(nameof(Modes))]
    public async Task The_upper_layer_is_capped_at_the_disk_size(ExecutionMode mode)
    {
        var result = await Harness.RunAsync(mode, Harness.Sh("dd if=/dev/zero of=/data/big bs=1M count=24 2>&1; echo rc=$?"), await SpecAsync(diskMiB: 8));
        Assert.Contains("No space left on device", result.Stdout);
        Assert.DoesNotContain("rc=0", result.Stdout);
    }

    [BusyboxTheory, MemberData(nameof(ContainerModes))]
    public async Task Image_files_owned_by_root_stay_unwritable_to_the_unprivileged_workload(ExecutionMode mode)
    {
        var result = await Harness.RunAsync(mode, Harness.Sh("id -u; echo x > /etc/image-marker; echo rc=$?; touch /bin/new; echo rc=$?"), await SpecAsync());
        Assert.StartsWith("1000\n", result.Stdout);
        Assert.DoesNotContain("rc=0", result.Stdout);
    }

    [Fact]
    public async Task A_missing_image_root_is_refused_before_anything_starts()
    {
        var spec = new SandboxSpec { Rootfs = RootfsSpec.Image("/var/cache/sandbox/e2e-images/rootfs/none", "sha256:none") };
        var e = await Assert.ThrowsAsync<SpecValidationException>(() => Harness.RunAsync(ExecutionMode.OneShot, Harness.Sh("true"), spec));
        Assert.Contains("does not exist", e.Message);
    }
}

/// <summary>Reported as skipped, with the reason, where busybox-static is not installed.</summary>
public sealed class BusyboxTheoryAttribute : TheoryAttribute
{
    public BusyboxTheoryAttribute()
    {
        if (BusyboxImage.Missing is { } reason)
            Skip = reason;
    }
}

/// <summary>The shared debian:bookworm image scripts/bootstrap.sh builds into the default store (tests never pay for
/// the build); skipped, with the reason, where it is absent.</summary>
public sealed class DebianImageTests
{
    public const string Name = "debian:bookworm";

    internal static ResolvedImage? Find()
    {
        var options = new ImageStoreOptions();
        if (!Directory.Exists(options.Root))
            return null;
        var store = new ImageStore(options);
        return store.Find(Name) is null ? null : store.Resolve(Name);
    }

    public static TheoryData<ExecutionMode> Modes => [ExecutionMode.OneShot, ExecutionMode.Agent, ExecutionMode.MicroVm];

    [DebianImageTheory, MemberData(nameof(Modes))]
    public async Task Debian_image_runs_its_own_userland(ExecutionMode mode)
    {
        var image = Find()!;
        var spec = new SandboxSpec { Rootfs = RootfsSpec.Image(image.RootfsDirectory, image.RootfsKey), Env = image.Record.Defaults.EnvMap() };
        var result = await Harness.RunAsync(mode, Harness.Sh("cat /etc/debian_version; dpkg-query -W -f='${Status}' coreutils; echo; apt-get --version | head -1"), spec);
        Assert.Equal(0, result.Status.ExitCode);
        var lines = result.Stdout.Split('\n');
        Assert.StartsWith("12.", lines[0]);
        Assert.Equal("install ok installed", lines[1]);
        Assert.StartsWith("apt 2.6", lines[2]);
    }
}

/// <summary>Skipped, with the reason, where the debian:bookworm image was not built (scripts/bootstrap.sh builds it).</summary>
public sealed class DebianImageTheoryAttribute : TheoryAttribute
{
    public DebianImageTheoryAttribute()
    {
        if (DebianImageTests.Find() is null)
            Skip = $"image {DebianImageTests.Name} is not in the store (scripts/bootstrap.sh builds it: sandbox image build --debian bookworm --name {DebianImageTests.Name})";
    }
}
