using Sandbox.Isolation.Container;
using Sandbox.Isolation.Users;
using Sandbox.Isolation.IO;

namespace Sandbox.Isolation.Tests;

public sealed class SmallPartsTests
{
    [Fact]
    public async Task Output_cap_delivers_up_to_the_cap_and_remembers_truncation()
    {
        var sink = new MemoryStream();
        var cap = new OutputCap(sink, 10);
        await cap.WriteAsync("12345"u8.ToArray(), CancellationToken.None);
        Assert.False(cap.Truncated);
        await cap.WriteAsync("6789012345"u8.ToArray(), CancellationToken.None);
        await cap.WriteAsync("more"u8.ToArray(), CancellationToken.None);
        Assert.True(cap.Truncated);
        Assert.Equal("1234567890"u8.ToArray(), sink.ToArray());
    }

    [Theory]
    [InlineData(0, 0, 0, 0)]
    [InlineData(3, 0, 3, 0)]
    [InlineData(137, 0, 137, 9)]
    [InlineData(143, 0, 143, 15)]
    [InlineData(200, 0, 200, 0)]
    public void Bwrap_codes_above_128_read_as_signals(int code, int _, int expectedCode, int expectedSignal)
    {
        Assert.Equal((expectedCode, expectedSignal), ExitStatusMapper.FromBwrapCode(code));
    }

    [Fact]
    public void Oom_is_only_reported_for_a_sigkill_we_did_not_send()
    {
        Assert.True(ExitStatusMapper.Build(137, 9, false, true, false, TimeSpan.Zero, ResourceUsage.Empty).OomKilled);
        Assert.False(ExitStatusMapper.Build(137, 9, true, true, false, TimeSpan.Zero, ResourceUsage.Empty).OomKilled);
        Assert.False(ExitStatusMapper.Build(1, 0, false, true, false, TimeSpan.Zero, ResourceUsage.Empty).OomKilled);
    }

    [Fact]
    public void Host_uids_are_unique_while_held_and_the_range_is_enforced()
    {
        var uids = new HostIdAllocator(500_000, 1, 4, null, "sandbox host uid");
        var taken = Enumerable.Range(0, 4).Select(_ => uids.Allocate()).ToList();
        Assert.Equal(4, taken.Distinct().Count());
        Assert.All(taken, u => Assert.InRange(u, 500_000, 500_003));
        Assert.Equal(SandboxErrorCode.ResourceExhausted, Assert.Throws<SandboxException>(() => uids.Allocate()).Code);
        uids.Release(taken[2]);
        Assert.Equal(taken[2], uids.Allocate());
    }

    [Fact]
    public void Two_engine_processes_never_hand_out_the_same_host_uid()
    {
        var locks = Directory.CreateTempSubdirectory("uid-locks-");
        try
        {
            // Two allocators over one lock directory stand for two engine processes (flock conflicts across opens).
            var first = new HostIdAllocator(500_000, 1, 3, locks.FullName, "sandbox host uid");
            var second = new HostIdAllocator(500_000, 1, 3, locks.FullName, "sandbox host uid");
            var taken = Enumerable.Range(0, 3).Select(_ => first.Allocate()).ToList();
            Assert.Equal(SandboxErrorCode.ResourceExhausted, Assert.Throws<SandboxException>(() => second.Allocate()).Code);
            Assert.False(second.Reserve(taken[0]));
            first.Release(taken[1]);
            Assert.Equal(taken[1], second.Allocate());
            Assert.False(first.Reserve(taken[1]));
            second.Release(taken[1]);
            Assert.True(first.Reserve(taken[1]));
        }
        finally
        {
            locks.Delete(recursive: true);
        }
    }

    [Fact]
    public void Uid_ranges_are_whole_blocks_and_only_blocks_can_be_reserved()
    {
        var ranges = new HostIdAllocator(0x7000_0000, 65_536, 3, null, "sandbox uid range");
        var taken = Enumerable.Range(0, 3).Select(_ => ranges.Allocate()).Order().ToList();
        Assert.Equal([0x7000_0000, 0x7001_0000, 0x7002_0000], taken);
        Assert.Equal(SandboxErrorCode.ResourceExhausted, Assert.Throws<SandboxException>(() => ranges.Allocate()).Code);
        ranges.Release(0x7001_0000);
        Assert.False(ranges.Reserve(0x7001_0001)); // inside a block, not a block's first id
        Assert.False(ranges.Reserve(0x7003_0000)); // past the last block
        Assert.True(ranges.Reserve(0x7001_0000));
        Assert.Throws<ArgumentOutOfRangeException>(() => new HostIdAllocator(0x7000_0000, 0, 2, null, "sandbox uid range"));
    }

    [Fact]
    public void Sandbox_ids_are_safe_file_names()
    {
        var id = SandboxId.New();
        Assert.True(SandboxId.TryParse(id.Value, out _));
        // 8 bytes from the kernel's CSPRNG, hex: 1,000 of them never repeat.
        Assert.Matches("^sb-[0-9a-f]{16}$", id.Value);
        Assert.Equal(1000, Enumerable.Range(0, 1000).Select(_ => SandboxId.New().Value).Distinct().Count());
        Assert.False(SandboxId.TryParse("a/b", out _));
        Assert.False(SandboxId.TryParse("-a", out _));
        Assert.False(SandboxId.TryParse("A", out _));
        Assert.False(SandboxId.TryParse("", out _));
    }

    [Fact]
    public void Directory_rootfs_binds_its_entries_recreates_links_and_skips_what_the_engine_provides()
    {
        var root = Directory.CreateTempSubdirectory("layout-");
        try
        {
            Directory.CreateDirectory(Path.Combine(root.FullName, "usr"));
            Directory.CreateDirectory(Path.Combine(root.FullName, "proc"));
            Directory.CreateDirectory(Path.Combine(root.FullName, "tmp"));
            File.CreateSymbolicLink(Path.Combine(root.FullName, "bin"), "usr/bin");
            var ops = RootfsLayout.Build(RootfsSpec.Directory(root.FullName), "/work");
            Assert.Contains(new RoBind(Path.Combine(root.FullName, "usr"), "/usr"), ops);
            Assert.Contains(new SymlinkOp("usr/bin", "/bin"), ops);
            Assert.DoesNotContain(ops, o => o is RoBind { Destination: "/proc" or "/tmp" });
        }
        finally
        {
            root.Delete(true);
        }
    }

    /// <summary>A work dir inside an image directory (the CI runner's /home/runner): the image's directories are bound
    /// whole from the overlay, whose script makes the mount point in the upper layer; a work dir through a link of the
    /// image is refused; a top-level one or one under /tmp is left to bwrap.</summary>
    [Fact]
    public void Image_rootfs_binds_whole_entries_and_names_the_work_dir_the_overlay_makes()
    {
        var root = Directory.CreateTempSubdirectory("image-layout-");
        try
        {
            Directory.CreateDirectory(Path.Combine(root.FullName, "home", "alice"));
            Directory.CreateDirectory(Path.Combine(root.FullName, "usr"));
            File.CreateSymbolicLink(Path.Combine(root.FullName, "srv"), "/etc");
            var ops = RootfsLayout.Build(RootfsSpec.Image(root.FullName, "sha256:" + new string('0', 64)), "/home/runner");
            Assert.Contains(new Bind(Path.Combine(ImageOverlay.MergedDirectory, "home"), "/home"), ops);
            Assert.Contains(new SymlinkOp("/etc", "/srv"), ops);
            Assert.DoesNotContain(ops, o => o is Bind { Destination: "/home/alice" });
            Assert.Equal("home/runner", RootfsLayout.WorkDirInImage(root.FullName, "/home/runner"));
            Assert.Equal("opt/x/work", RootfsLayout.WorkDirInImage(root.FullName, "/opt/x/work"));
            Assert.Contains(new Bind(Path.Combine(ImageOverlay.MergedDirectory, "opt"), "/opt"),
                RootfsLayout.Build(RootfsSpec.Image(root.FullName, "sha256:" + new string('0', 64)), "/opt/x/work"));
            Assert.Null(RootfsLayout.WorkDirInImage(root.FullName, "/work"));
            Assert.Null(RootfsLayout.WorkDirInImage(root.FullName, "/tmp/work"));
            var e = Assert.Throws<SandboxException>(() => RootfsLayout.WorkDirInImage(root.FullName, "/srv/work"));
            Assert.Contains("/srv, which in the image is not a directory", e.Message);
        }
        finally
        {
            root.Delete(true);
        }
    }
}
