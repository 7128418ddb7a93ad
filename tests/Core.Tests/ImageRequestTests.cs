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

    /// <summary>The image config's User is the sandbox's user when the request names none: numbers as they are, names
    /// from the image's own /etc/passwd and /etc/group; the request's user wins.</summary>
    [Theory]
    [InlineData("1000", null, 1000, 1000)]
    [InlineData("0", null, 0, 0)]
    [InlineData("app", null, 1234, 1235)]
    [InlineData("app:staff", null, 1234, 50)]
    [InlineData("4321:7", null, 4321, 7)]
    [InlineData("app", "root", 0, 0)]
    public async Task The_image_config_user_applies_unless_the_request_names_one(string imageUser, string? requestUser, int uid, int gid)
    {
        var options = new ImageStoreOptions { Root = Path.Combine(_directory, "store") };
        var tar = Path.Combine(_directory, "users.tar");
        await using (var stream = File.Create(tar))
        await using (var writer = new TarWriter(stream))
        {
            await writer.WriteEntryAsync(new PaxTarEntry(TarEntryType.Directory, "etc"));
            await writer.WriteEntryAsync(new PaxTarEntry(TarEntryType.RegularFile, "etc/passwd")
                { DataStream = new MemoryStream("root:x:0:0::/root:/bin/sh\napp:x:1234:1235::/home/app:/bin/sh\n"u8.ToArray()) });
            await writer.WriteEntryAsync(new PaxTarEntry(TarEntryType.RegularFile, "etc/group")
                { DataStream = new MemoryStream("root:x:0:\nstaff:x:50:\n"u8.ToArray()) });
        }
        await new ImageStore(options).ImportAsync(tar, "users:1", null, CancellationToken.None, new ImageDefaults { User = imageUser, Cmd = ["/bin/true"] });
        await using var h = new CoreHarness(options: new SandboxCoreOptions { Images = options });

        await h.Sandboxes.RunAsync(CoreHarness.Alice, CoreHarness.Trusted() with { Image = "users:1", User = requestUser }, new ProcessSpec { Argv = [] },
            ProcessIO.Discard, _ => Task.CompletedTask, CancellationToken.None);

        var spec = Assert.Single(h.Container.Ran.Concat(h.MicroVm.Ran));
        Assert.Equal(new SandboxUser(uid, gid), spec.User);
    }

    [Theory]
    [InlineData("nobody-here", "'nobody-here' is not in the image's /etc/passwd")]
    [InlineData("1000:nogroup", "group 'nogroup' is not in the image's /etc/group")]
    [InlineData("70000", "id 70000 is outside the sandbox's ids 0..65534")]
    public async Task An_image_user_that_cannot_be_resolved_is_refused_naming_it(string imageUser, string message)
    {
        var options = new ImageStoreOptions { Root = Path.Combine(_directory, "store") };
        var tar = Path.Combine(_directory, "bad-user.tar");
        await using (var stream = File.Create(tar))
        await using (var writer = new TarWriter(stream))
            await writer.WriteEntryAsync(new PaxTarEntry(TarEntryType.Directory, "etc"));
        await new ImageStore(options).ImportAsync(tar, "baduser:1", null, CancellationToken.None, new ImageDefaults { User = imageUser });
        await using var h = new CoreHarness(options: new SandboxCoreOptions { Images = options });

        var e = await Assert.ThrowsAsync<SandboxException>(() => h.Sandboxes.CreateAsync(CoreHarness.Alice, CoreHarness.Trusted() with { Image = "baduser:1" },
            CancellationToken.None));
        Assert.Equal(SandboxErrorCode.InvalidArgument, e.Code);
        Assert.Contains($"User '{imageUser}'", e.Message);
        Assert.Contains(message, e.Message);
        Assert.Empty(h.Container.Created);
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
