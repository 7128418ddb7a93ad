using System.Formats.Tar;
using Sandbox.Isolation;
using Sandbox.Isolation.Images;

namespace Sandbox.Core.Tests;

/// <summary>A request naming an image: resolved in the configured store, its root becomes the spec's rootfs, its
/// config's env, command and workdir apply under what the request says.</summary>
public sealed class ImageRequestTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("core-images-").FullName;

    private async Task<(CoreHarness Harness, ImageRecord Record)> HarnessWithImageAsync()
    {
        var options = new ImageStoreOptions { Root = Path.Combine(_directory, "store") };
        var tar = Path.Combine(_directory, "rootfs.tar");
        await using (var stream = File.Create(tar))
        await using (var writer = new TarWriter(stream))
            await writer.WriteEntryAsync(new PaxTarEntry(TarEntryType.RegularFile, "hello") { DataStream = new MemoryStream("x"u8.ToArray()) });
        var record = await new ImageStore(options).ImportAsync(tar, "app:1", null, CancellationToken.None, new ImageDefaults
        {
            Env = ["PATH=/bin", "MODE=image", "KEEP=1"], Entrypoint = ["/bin/app"], Cmd = ["--default"], WorkingDir = "/srv",
        });
        return (new CoreHarness(options: new SandboxCoreOptions { Images = options }), record);
    }

    [Fact]
    public async Task Run_with_an_image_gets_its_root_env_entrypoint_and_workdir()
    {
        var (h, record) = await HarnessWithImageAsync();
        await using var _ = h;
        var request = CoreHarness.Trusted() with { Image = "app:1", Env = new Dictionary<string, string> { ["MODE"] = "request" } };

        await h.Sandboxes.RunAsync(CoreHarness.Alice, request, new ProcessSpec { Argv = ["--flag"] }, ProcessIO.Discard, _ => Task.CompletedTask, CancellationToken.None);

        var spec = Assert.Single(h.Container.Ran.Concat(h.MicroVm.Ran));
        var rootfs = Assert.IsType<ImageRootfs>(spec.Rootfs);
        Assert.Equal(record.RootfsKey, rootfs.Key);
        Assert.True(Directory.Exists(rootfs.LowerDirectory));
        Assert.Equal("request", spec.Env["MODE"]);
        Assert.Equal("1", spec.Env["KEEP"]);
        var process = Assert.Single(h.Container.RanProcesses.Concat(h.MicroVm.RanProcesses));
        Assert.Equal(["/bin/app", "--flag"], process.Argv);
        Assert.Equal("/srv", process.WorkingDirectory);
    }

    [Fact]
    public async Task Create_with_an_unknown_image_is_not_found_and_creates_nothing()
    {
        var (h, _) = await HarnessWithImageAsync();
        await using var _ = h;
        var e = await Assert.ThrowsAsync<SandboxException>(() => h.Sandboxes.CreateAsync(CoreHarness.Alice, CoreHarness.Trusted() with { Image = "nope:1" }, CancellationToken.None));
        Assert.Equal(SandboxErrorCode.NotFound, e.Code);
        Assert.Contains("'nope:1'", e.Message);
        Assert.Empty(h.Container.Created);
    }

    [Fact]
    public async Task Image_and_rootfs_together_are_refused()
    {
        var (h, _) = await HarnessWithImageAsync();
        await using var _ = h;
        var e = await Assert.ThrowsAsync<SandboxException>(() => h.Sandboxes.CreateAsync(CoreHarness.Alice,
            CoreHarness.Trusted() with { Image = "app:1", Rootfs = "/srv/root" }, CancellationToken.None));
        Assert.Equal(SandboxErrorCode.InvalidArgument, e.Code);
        Assert.Contains("not both", e.Message);
    }

    public void Dispose() => Directory.Delete(_directory, recursive: true);
}
