using Sandbox.Isolation.Container;

namespace Sandbox.Isolation.Tests;

public sealed class BwrapArgumentsTests
{
    private static BwrapArguments Sample(bool disableUserns = true, bool dieWithParent = true) => new()
    {
        Uid = 1000,
        Hostname = "box",
        DisableUserNamespaces = disableUserns,
        DieWithParent = dieWithParent,
        Mounts = [new RoBind("/usr", "/usr"), new SymlinkOp("usr/bin", "/bin"), new TmpfsOp("/tmp", 1 << 20), new RemountRo("/")],
        WorkingDirectory = "/work",
        Command = ["/bin/sh", "-c", "echo hi"],
    };

    [Fact]
    public void Argv_is_namespaces_then_identity_then_mounts_then_fds_then_the_command()
    {
        var argv = Sample().ToArgv("/usr/bin/bwrap");
        Assert.Equal(
        [
            "/usr/bin/bwrap",
            "--unshare-user", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-net", "--unshare-cgroup",
            "--uid", "1000", "--gid", "1000", "--hostname", "box", "--cap-drop", "ALL", "--new-session",
            "--disable-userns", "--die-with-parent",
            "--ro-bind", "/usr", "/usr", "--symlink", "usr/bin", "/bin", "--perms", "1777", "--size", "1048576", "--tmpfs", "/tmp",
            "--remount-ro", "/",
            "--chdir", "/work", "--seccomp", "3", "--json-status-fd", "4", "--block-fd", "5",
            "--", "/bin/sh", "-c", "echo hi",
        ], argv);
    }

    [Fact]
    public void Nested_user_namespaces_and_survival_are_opt_in()
    {
        var argv = Sample(disableUserns: false, dieWithParent: false).ToArgv("bwrap");
        Assert.DoesNotContain("--disable-userns", argv);
        Assert.DoesNotContain("--die-with-parent", argv);
    }

    [Fact]
    public void The_command_follows_the_double_dash_so_it_is_never_read_as_options()
    {
        var args = Sample() with { Command = ["--ro-bind", "/", "/"] };
        var argv = args.ToArgv("bwrap");
        var dash = argv.ToList().LastIndexOf("--");
        Assert.Equal(["--ro-bind", "/", "/"], argv.Skip(dash + 1));
    }
}
