using Sandbox.Isolation.Container;

namespace Sandbox.Isolation.Tests;

public sealed class ExecutableLookupTests : IDisposable
{
    private readonly DirectoryInfo _root = Directory.CreateTempSubdirectory("rootfs-");

    public void Dispose() => _root.Delete(true);

    private string Make(string path)
    {
        var full = Path.Combine(_root.FullName, path.TrimStart('/'));
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        File.WriteAllText(full, "#!/bin/sh\n");
        return full;
    }

    [Fact]
    public void Finds_a_program_on_the_sandbox_path()
    {
        Make("/usr/bin/tool");
        ExecutableLookup.EnsureExists(RootfsSpec.Directory(_root.FullName), "tool", "/usr/local/bin:/usr/bin");
    }

    [Fact]
    public void Absolute_links_resolve_inside_the_rootfs_not_on_the_host()
    {
        Make("/opt/real/tool");
        Directory.CreateDirectory(Path.Combine(_root.FullName, "usr/bin"));
        File.CreateSymbolicLink(Path.Combine(_root.FullName, "usr/bin/tool"), "/opt/real/tool");
        // The host's /usr/bin/env exists, but a link to it from inside the rootfs must not count.
        File.CreateSymbolicLink(Path.Combine(_root.FullName, "usr/bin/hostenv"), "/usr/bin/env");
        var rootfs = RootfsSpec.Directory(_root.FullName);
        ExecutableLookup.EnsureExists(rootfs, "tool", "/usr/bin");
        var e = Assert.Throws<SandboxException>(() => ExecutableLookup.EnsureExists(rootfs, "hostenv", "/usr/bin"));
        Assert.Equal(SandboxErrorCode.NotFound, e.Code);
        Assert.Equal(Path.Combine(_root.FullName, "opt/real/tool"), ExecutableLookup.Resolve(rootfs, "/usr/bin/tool"));
    }

    [Fact]
    public void Dotdot_cannot_climb_out_of_the_rootfs()
    {
        var resolved = ExecutableLookup.Resolve(RootfsSpec.Directory(_root.FullName), "/../../../../etc/passwd");
        Assert.Equal(Path.Combine(_root.FullName, "etc/passwd"), resolved);
    }

    [Fact]
    public void Host_rootfs_shows_only_the_userland()
    {
        Assert.Null(ExecutableLookup.Resolve(RootfsSpec.Host, "/root/.bashrc"));
        Assert.Null(ExecutableLookup.Resolve(RootfsSpec.Host, "/var/lib/x"));
        Assert.NotNull(ExecutableLookup.Resolve(RootfsSpec.Host, "/usr/bin/env"));
    }

    [Fact]
    public void Missing_program_names_itself()
    {
        var e = Assert.Throws<SandboxException>(() => ExecutableLookup.EnsureExists(RootfsSpec.Directory(_root.FullName), "nope", "/bin"));
        Assert.Contains("'nope' not found in PATH", e.Message);
    }
}
