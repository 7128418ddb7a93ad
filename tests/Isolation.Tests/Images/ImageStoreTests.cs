using System.Formats.Tar;
using System.Text.Json;
using Sandbox.Isolation.Images;
using static Sandbox.Isolation.Tests.Images.TestLayers;

namespace Sandbox.Isolation.Tests.Images;

public sealed class ImageStoreTests
{
    private static readonly CancellationToken None = CancellationToken.None;

    [Fact]
    public async Task Oci_layout_is_unpacked_with_whiteouts_applied_and_config_defaults_kept()
    {
        using var t = new TempStore();
        var lower = Tar(Dir("etc"), File("etc/keep", "k"), File("etc/gone", "g"), Dir("var"), Dir("var/cache"), File("var/cache/old", "o"),
            File("bin/tool", "#!", (UnixFileMode)0b111_101_101 | UnixFileMode.SetUser | UnixFileMode.SetGroup), Symlink("bin/sh", "tool"));
        var upper = Tar(File("etc/.wh.gone", ""), Dir("var/cache"), File("var/cache/.wh..wh..opq", ""), File("var/cache/new", "n"),
            Hardlink("bin/tool2", "bin/tool"));
        var layout = WriteLayout(t.NewInput("layout"), [lower, upper],
            runtime: new OciRuntimeConfig { Env = ["PATH=/bin", "A=1"], WorkingDir = "/srv", User = "1000:1000", Entrypoint = ["/bin/sh", "-c"], Cmd = ["echo hi"] });

        var record = await t.Store.ImportAsync(layout, "test/whiteouts:v1", null, None);

        var root = t.Store.Resolve("test/whiteouts:v1").RootfsDirectory;
        Assert.Equal("k", System.IO.File.ReadAllText(Path.Combine(root, "etc/keep")));
        Assert.False(System.IO.File.Exists(Path.Combine(root, "etc/gone")));
        Assert.False(System.IO.File.Exists(Path.Combine(root, "etc/.wh.gone")));
        Assert.False(System.IO.File.Exists(Path.Combine(root, "var/cache/old")));
        Assert.Equal("n", System.IO.File.ReadAllText(Path.Combine(root, "var/cache/new")));
        Assert.Equal("tool", new FileInfo(Path.Combine(root, "bin/sh")).LinkTarget);
        var mode = System.IO.File.GetUnixFileMode(Path.Combine(root, "bin/tool"));
        Assert.False(mode.HasFlag(UnixFileMode.SetUser));
        Assert.False(mode.HasFlag(UnixFileMode.SetGroup));
        Assert.True(mode.HasFlag(UnixFileMode.UserExecute));
        Assert.Equal("#!", System.IO.File.ReadAllText(Path.Combine(root, "bin/tool2")));
        Assert.Equal(["PATH=/bin", "A=1"], record.Defaults.Env);
        Assert.Equal("/srv", record.Defaults.WorkingDir);
        Assert.Equal("1000:1000", record.Defaults.User);
        Assert.Equal(["/bin/sh", "-c", "echo hi"], record.Defaults.Command([]));
        Assert.Equal(["/bin/sh", "-c", "ls"], record.Defaults.Command(["ls"]));
        Assert.Equal(2, record.DiffIds.Count);
        Assert.StartsWith("sha256:", record.RootfsKey);
        Assert.NotNull(record.ManifestDigest);
    }

    [Fact]
    public async Task Same_layers_imported_twice_share_one_root_and_rm_removes_it_with_the_last_image()
    {
        using var t = new TempStore();
        var layout = WriteLayout(t.NewInput("layout"), [Tar(File("a", "1"))]);
        var first = await t.Store.ImportAsync(layout, "one:1", null, None);
        var second = await t.Store.ImportAsync(layout, "two:2", null, None);

        Assert.Equal(first.Id, second.Id);
        Assert.Equal(["one:1", "two:2"], t.Store.Get("one:1").Names.Order());
        Assert.Single(Directory.EnumerateDirectories(Path.Combine(t.Store.Root, "rootfs")));
        Assert.Null(t.Store.Find("three:3"));

        await t.Store.RemoveAsync("one:1", None);
        Assert.Null(t.Store.Find("one:1"));
        Assert.Empty(Directory.EnumerateDirectories(Path.Combine(t.Store.Root, "rootfs")));
        Assert.Empty(Directory.EnumerateFiles(Path.Combine(t.Store.Root, "blobs", "sha256")));
        var missing = await Assert.ThrowsAsync<SandboxException>(() => t.Store.RemoveAsync("one:1", None));
        Assert.Equal(SandboxErrorCode.NotFound, missing.Code);
    }

    [Fact]
    public async Task A_name_moves_to_the_image_imported_last()
    {
        using var t = new TempStore();
        await t.Store.ImportAsync(WriteLayout(t.NewInput("a"), [Tar(File("a", "1"))]), "app:latest", null, None);
        var newer = await t.Store.ImportAsync(WriteLayout(t.NewInput("b"), [Tar(File("a", "2"))]), "app", null, None);

        Assert.Equal(newer.Id, t.Store.Get("app:latest").Id);
        Assert.Equal(2, t.Store.List().Count);
        Assert.Contains(t.Store.List(), r => r.Names.Count == 0);
    }

    [Fact]
    public async Task Rootfs_tarball_gzip_and_zstd_import_as_one_layer_images()
    {
        using var t = new TempStore();
        var tar = Tar(Dir("bin"), File("bin/busybox", "elf"), Symlink("bin/sh", "busybox"));
        await System.IO.File.WriteAllBytesAsync(t.NewInput("rootfs.tar.gz"), Gzip(tar));
        await System.IO.File.WriteAllBytesAsync(t.NewInput("rootfs.tar.zst"), Zstd(tar));

        var gz = await t.Store.ImportAsync(t.NewInput("rootfs.tar.gz"), "plain:gz", null, None);
        var zst = await t.Store.ImportAsync(t.NewInput("rootfs.tar.zst"), "plain:zst", null, None);

        Assert.Equal(gz.RootfsKey, zst.RootfsKey); // same uncompressed content, same unpacked root
        Assert.Equal(Digest(tar), gz.DiffIds.Single());
        Assert.Equal("elf", System.IO.File.ReadAllText(Path.Combine(t.Store.Resolve("plain:zst").RootfsDirectory, "bin/busybox")));
        Assert.Contains(gz.Defaults.Env, e => e.StartsWith("PATH=", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Zstd_layers_in_an_oci_layout_are_unpacked()
    {
        using var t = new TempStore();
        var layout = WriteLayout(t.NewInput("layout"), [Tar(File("z", "zstd"))], compress: Zstd);
        await t.Store.ImportAsync(layout, "zstd:1", null, None);
        Assert.Equal("zstd", System.IO.File.ReadAllText(Path.Combine(t.Store.Resolve("zstd:1").RootfsDirectory, "z")));
    }

    [Fact]
    public async Task Oci_archive_tarball_imports_with_its_ref_name()
    {
        using var t = new TempStore();
        var layout = WriteLayout(t.NewInput("layout"), [Tar(File("f", "oci"))], refName: "example.test/app:2");
        TarDirectory(layout, t.NewInput("app.tar"));

        var record = await t.Store.ImportAsync(t.NewInput("app.tar"), null, null, None);

        Assert.Equal(["example.test/app:2"], record.Names);
        Assert.Equal("oci", System.IO.File.ReadAllText(Path.Combine(t.Store.Resolve("example.test/app:2").RootfsDirectory, "f")));
        Assert.Empty(Directory.EnumerateFileSystemEntries(Path.Combine(t.Store.Root, "tmp")));
    }

    [Fact]
    public async Task Docker_save_archive_imports_with_its_repo_tags_and_checks_diff_ids()
    {
        using var t = new TempStore();
        var dir = t.NewInput("docker");
        Directory.CreateDirectory(Path.Combine(dir, "l1"));
        var layer = Tar(File("hello", "docker"));
        await System.IO.File.WriteAllBytesAsync(Path.Combine(dir, "l1", "layer.tar"), layer);
        var config = JsonSerializer.SerializeToUtf8Bytes(new OciImageConfig
        {
            Architecture = "amd64", Os = "linux", Config = new OciRuntimeConfig { Cmd = ["/hello"] },
            Rootfs = new OciRootfs { Type = "layers", DiffIds = [Digest(layer)] },
        }, OciJsonForTests.Default.OciImageConfig);
        await System.IO.File.WriteAllBytesAsync(Path.Combine(dir, Digest(config)[7..] + ".json"), config);
        await System.IO.File.WriteAllBytesAsync(Path.Combine(dir, "manifest.json"), JsonSerializer.SerializeToUtf8Bytes(
            new List<DockerArchiveEntry> { new() { Config = Digest(config)[7..] + ".json", RepoTags = ["hello:saved"], Layers = ["l1/layer.tar"] } },
            OciJsonForTests.Default.ListDockerArchiveEntry));
        TarDirectory(dir, t.NewInput("saved.tar"));

        var record = await t.Store.ImportAsync(t.NewInput("saved.tar"), null, null, None);

        Assert.Equal(["hello:saved"], record.Names);
        Assert.Equal(["/hello"], record.Defaults.Cmd);
        Assert.Equal(Digest(config), record.Id);
        Assert.Equal("docker", System.IO.File.ReadAllText(Path.Combine(t.Store.Resolve("hello:saved").RootfsDirectory, "hello")));
    }

    [Theory]
    [InlineData("UPPER:1")]
    [InlineData("a/../b")]
    [InlineData("name:-tag")]
    [InlineData("")]
    public void Bad_names_are_refused_naming_the_format(string name)
    {
        var e = Assert.Throws<SandboxException>(() => ImageName.Parse(name));
        Assert.Equal(SandboxErrorCode.InvalidArgument, e.Code);
        Assert.Contains("NAME[:TAG]", e.Message);
    }

    [Fact]
    public void Names_get_latest_and_may_carry_a_registry_host()
    {
        Assert.Equal("busybox:latest", ImageName.Parse("busybox").ToString());
        Assert.Equal("127.0.0.1:5000/x/y:1.0", ImageName.Parse("127.0.0.1:5000/x/y:1.0").ToString());
    }
}
