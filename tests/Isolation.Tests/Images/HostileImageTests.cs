using System.Formats.Tar;
using Sandbox.Isolation.Images;
using static Sandbox.Isolation.Tests.Images.TestLayers;

namespace Sandbox.Isolation.Tests.Images;

/// <summary>Every hostile input is refused with an error that names it, and leaves nothing: not outside the store
/// (a sentinel directory beside it stays empty), not a half-built root, not a temp file.</summary>
public sealed class HostileImageTests
{
    private static readonly CancellationToken None = CancellationToken.None;

    private static async Task<SandboxException> RefusedLayer(TempStore t, params byte[][] layers)
    {
        var layout = WriteLayout(t.NewInput("layout-" + Guid.NewGuid().ToString("N")[..6]), layers);
        var e = await Assert.ThrowsAsync<SandboxException>(() => t.Store.ImportAsync(layout, "hostile:1", null, None));
        t.AssertNothingLeft();
        return e;
    }

    [Fact]
    public async Task Dot_dot_entry_is_refused()
    {
        using var t = new TempStore();
        var e = await RefusedLayer(t, Tar(File("../outside/pwned")));
        Assert.Contains("'../outside/pwned' contains '..'", e.Message);
        Assert.Equal(SandboxErrorCode.InvalidArgument, e.Code);
    }

    [Fact]
    public async Task Absolute_entry_is_refused()
    {
        using var t = new TempStore();
        var e = await RefusedLayer(t, Tar(File(Path.Combine(t.Outside, "pwned"))));
        Assert.Contains("is an absolute path", e.Message);
    }

    [Fact]
    public async Task Symlink_pointing_outside_the_root_is_refused()
    {
        using var t = new TempStore();
        var e = await RefusedLayer(t, Tar(Dir("a"), Symlink("a/escape", "../../outside")));
        Assert.Contains("points outside the image root", e.Message);
    }

    [Fact]
    public async Task Writing_through_a_symlink_is_refused_even_when_the_link_looks_harmless()
    {
        // An absolute link is allowed (it resolves inside the sandbox's root), but the host never follows it.
        using var t = new TempStore();
        var e = await RefusedLayer(t, Tar(Symlink("evil", t.Outside)), Tar(File("evil/pwned")));
        Assert.Contains("would be written through the symlink 'evil'", e.Message);
    }

    [Fact]
    public async Task Hardlink_to_outside_is_refused()
    {
        using var t = new TempStore();
        var e = await RefusedLayer(t, Tar(Hardlink("passwd", "../../../etc/passwd")));
        Assert.Contains("contains '..'", e.Message);
        var absolute = await RefusedLayer(t, Tar(Hardlink("passwd", "/etc/passwd")));
        Assert.Contains("is an absolute path", absolute.Message);
    }

    [Fact]
    public async Task Hardlink_through_a_symlink_or_to_a_missing_file_is_refused()
    {
        using var t = new TempStore();
        var through = await RefusedLayer(t, Tar(Symlink("etc", "/etc"), Hardlink("passwd", "etc/passwd")));
        Assert.Contains("through the symlink 'etc'", through.Message);
        var missing = await RefusedLayer(t, Tar(Hardlink("x", "nothing-here")));
        Assert.Contains("not a regular file earlier in the image", missing.Message);
    }

    [Theory]
    [InlineData(TarEntryType.CharacterDevice)]
    [InlineData(TarEntryType.BlockDevice)]
    [InlineData(TarEntryType.Fifo)]
    public async Task Device_nodes_and_fifos_are_refused(TarEntryType type)
    {
        using var t = new TempStore();
        var e = await RefusedLayer(t, Tar(new Entry("dev/sda", type)));
        Assert.Contains("'dev/sda'", e.Message);
        Assert.Contains(type.ToString(), e.Message);
    }

    [Fact]
    public async Task Decompression_bomb_stops_at_the_size_ceiling()
    {
        using var t = new TempStore(new ImageLimits { MaxUnpackedBytes = 1 << 20 });
        var bomb = Tar(new Entry("zeros", Content: new string('\0', 4 << 20)));
        var layout = WriteLayout(t.NewInput("bomb"), [bomb]);
        Assert.True(new DirectoryInfo(Path.Combine(layout, "blobs", "sha256")).EnumerateFiles().Max(f => f.Length) < 64 << 10); // small on the wire

        var e = await Assert.ThrowsAsync<SandboxException>(() => t.Store.ImportAsync(layout, "bomb:1", null, None));

        Assert.Equal(SandboxErrorCode.ResourceExhausted, e.Code);
        Assert.Contains("decompression bomb", e.Message);
        t.AssertNothingLeft();
    }

    [Fact]
    public async Task File_count_ceiling_is_enforced()
    {
        using var t = new TempStore(new ImageLimits { MaxEntries = 50 });
        var e = await RefusedLayer(t, Tar([.. Enumerable.Range(0, 60).Select(i => File($"f{i}"))]));
        Assert.Equal(SandboxErrorCode.ResourceExhausted, e.Code);
        Assert.Contains("more than 50 entries", e.Message);
    }

    [Fact]
    public async Task Blob_whose_content_does_not_match_its_digest_is_refused()
    {
        using var t = new TempStore();
        // The same length as the named blob (one byte of gzip's CRC flipped), so only the digest can tell: a re-compressed
        // other content may differ in length by a byte, and the size check would answer first.
        var layout = WriteLayout(t.NewInput("tampered"), [Tar(File("a", "good"))], tamperBlob: (_, blob) =>
        {
            var tampered = (byte[])blob.Clone();
            tampered[^5] ^= 0xFF;
            return tampered;
        });
        var e = await Assert.ThrowsAsync<SandboxException>(() => t.Store.ImportAsync(layout, "tampered:1", null, None));
        Assert.Contains("digest mismatch", e.Message);
        t.AssertNothingLeft();
    }

    [Theory]
    [InlineData(-10)]
    [InlineData(+10)]
    public async Task Manifest_that_lies_about_a_layer_size_is_refused(int lie)
    {
        using var t = new TempStore();
        var layout = WriteLayout(t.NewInput("liar"), [Tar(File("a", "content"))],
            mutate: m => m with { Layers = [.. m.Layers!.Select(l => l with { Size = l.Size + lie })] });
        var e = await Assert.ThrowsAsync<SandboxException>(() => t.Store.ImportAsync(layout, "liar:1", null, None));
        Assert.Contains("bytes its descriptor says", e.Message);
        t.AssertNothingLeft();
    }

    [Fact]
    public async Task Layer_whose_content_is_not_its_configs_diff_id_is_refused()
    {
        using var t = new TempStore();
        var layout = WriteLayout(t.NewInput("diff"), [Tar(File("a"))], diffIds: [Digest(Tar(File("b")))]);
        var e = await Assert.ThrowsAsync<SandboxException>(() => t.Store.ImportAsync(layout, "diff:1", null, None));
        Assert.Contains("rootfs.diff_ids[0]", e.Message);
        t.AssertNothingLeft();
    }

    [Fact]
    public async Task Layer_count_and_diff_id_count_must_agree()
    {
        using var t = new TempStore();
        var layout = WriteLayout(t.NewInput("count"), [Tar(File("a"))], diffIds: []);
        var e = await Assert.ThrowsAsync<SandboxException>(() => t.Store.ImportAsync(layout, "count:1", null, None));
        Assert.Contains("0 diff ids for 1 layers", e.Message);
    }

    [Fact]
    public async Task Unknown_layer_media_type_and_bad_digest_are_refused_before_any_fetch()
    {
        using var t = new TempStore();
        var layout = WriteLayout(t.NewInput("types"), [Tar(File("a"))],
            mutate: m => m with { Layers = [m.Layers![0] with { MediaType = "application/x-evil" }, new OciDescriptor { Digest = "md5:abc", Size = 1 }] });
        var e = await Assert.ThrowsAsync<SandboxException>(() => t.Store.ImportAsync(layout, "types:1", null, None));
        Assert.Contains("'application/x-evil'", e.Message);
        Assert.Contains("layers[1].digest 'md5:abc'", e.Message);
        t.AssertNothingLeft();
    }

    [Fact]
    public async Task Archive_with_hostile_entries_is_refused_before_it_is_read_as_an_image()
    {
        using var t = new TempStore();
        await System.IO.File.WriteAllBytesAsync(t.NewInput("evil.tar"), Tar(File("oci-layout", "{}"), File("../../outside/x")));
        var e = await Assert.ThrowsAsync<SandboxException>(() => t.Store.ImportAsync(t.NewInput("evil.tar"), "evil:1", null, None));
        Assert.Contains("contains '..'", e.Message);
        t.AssertNothingLeft();
    }

    [Fact]
    public async Task Oversized_document_is_refused()
    {
        using var t = new TempStore(new ImageLimits { MaxDocumentBytes = 64 });
        var layout = WriteLayout(t.NewInput("big"), [Tar(File("a"))]);
        var e = await Assert.ThrowsAsync<SandboxException>(() => t.Store.ImportAsync(layout, "big:1", null, None));
        Assert.Equal(SandboxErrorCode.ResourceExhausted, e.Code);
        t.AssertNothingLeft();
    }
}
