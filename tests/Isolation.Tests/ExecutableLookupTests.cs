using Sandbox.Isolation.Container;

namespace Sandbox.Isolation.Tests;

public sealed class ExecutableLookupTests : IDisposable
{
    private readonly DirectoryInfo _root = Directory.CreateTempSubdirectory("rootfs-");

    public void Dispose() => _root.Delete(true);

    private string Make(string path, UnixFileMode mode = (UnixFileMode)0x1ed)
    {
        var full = Path.Combine(_root.FullName, path.TrimStart('/'));
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        File.WriteAllText(full, "#!/bin/sh\n");
        File.SetUnixFileMode(full, mode);
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
    public void A_file_nobody_may_execute_or_a_directory_is_permission_denied_and_path_search_goes_on()
    {
        Make("/usr/local/bin/tool", (UnixFileMode)0x1a4);
        var rootfs = RootfsSpec.Directory(_root.FullName);
        var file = Assert.Throws<SandboxException>(() => ExecutableLookup.EnsureExists(rootfs, "/usr/local/bin/tool", null));
        Assert.Equal(SandboxErrorCode.PermissionDenied, file.Code);
        Assert.Contains("'/usr/local/bin/tool'", file.Message);
        Assert.Equal(SandboxErrorCode.PermissionDenied, Assert.Throws<SandboxException>(() => ExecutableLookup.EnsureExists(rootfs, "/usr/local/bin", null)).Code);
        Assert.Equal(SandboxErrorCode.PermissionDenied, Assert.Throws<SandboxException>(() => ExecutableLookup.EnsureExists(rootfs, "tool", "/usr/local/bin")).Code);
        // As execvp: a later directory of PATH with an executable one wins.
        Make("/usr/bin/tool");
        ExecutableLookup.EnsureExists(rootfs, "tool", "/usr/local/bin:/usr/bin");
    }

    [Fact]
    public void Missing_program_names_itself()
    {
        var e = Assert.Throws<SandboxException>(() => ExecutableLookup.EnsureExists(RootfsSpec.Directory(_root.FullName), "nope", "/bin"));
        Assert.Contains("'nope' not found in PATH", e.Message);
    }

    [Fact]
    public void Host_rootfs_etc_is_the_prepared_copy_not_the_hosts()
    {
        // Issue 9 item 5: the host's /etc/shadow exists, the sandbox's /etc (the prepared copy) has none, so the
        // lookup answers exactly as for a file that exists nowhere.
        var etc = Path.Combine(_root.FullName, "etc-copy");
        Directory.CreateDirectory(etc);
        File.WriteAllText(Path.Combine(etc, "os-release"), "x");
        Assert.True(File.Exists("/etc/shadow"));
        var shadow = Assert.Throws<SandboxException>(() => ExecutableLookup.EnsureExists(RootfsSpec.Host, "/etc/shadow", null, etc));
        var missing = Assert.Throws<SandboxException>(() => ExecutableLookup.EnsureExists(RootfsSpec.Host, "/etc/no-such-file", null, etc));
        Assert.Equal(SandboxErrorCode.NotFound, shadow.Code);
        Assert.Equal(missing.Code, shadow.Code);
        Assert.Equal(missing.Message.Replace("no-such-file", "X"), shadow.Message.Replace("shadow", "X"));
        Assert.Equal(Path.Combine(etc, "os-release"), ExecutableLookup.Resolve(RootfsSpec.Host, "/etc/os-release", etc));
        // Without the prepared copy, /etc is not looked at at all.
        Assert.Null(ExecutableLookup.Resolve(RootfsSpec.Host, "/etc/os-release"));
    }

    [Fact]
    public void A_directory_the_sandbox_cannot_search_is_not_looked_into()
    {
        // Root sees into a 0700 directory; the sandbox's user (the "other" bits) does not: whether a file exists in
        // there is for the sandbox's exec to answer (EACCES), not for the lookup (which would answer as root).
        var dir = Path.Combine(_root.FullName, "opt/private");
        Make("/opt/private/tool");
        File.SetUnixFileMode(dir, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        var rootfs = RootfsSpec.Directory(_root.FullName);
        ExecutableLookup.EnsureExists(rootfs, "/opt/private/tool", null);
        ExecutableLookup.EnsureExists(rootfs, "/opt/private/no-such-tool", null);
        Assert.Throws<SandboxException>(() => ExecutableLookup.EnsureExists(rootfs, "/opt/no-such-tool", null));
    }
}
