using Sandbox.Isolation.Container;

namespace Sandbox.Isolation.Tests;

public sealed class BwrapArgumentsTests
{
    private static BwrapArguments Sample(bool dieWithParent = true) => new()
    {
        Uid = 1000,
        Gid = 1001,
        Hostname = "box",
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
            "--userns", "11", "--sync-fd", "11", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-net", "--unshare-cgroup",
            "--uid", "1000", "--gid", "1001", "--hostname", "box", "--cap-drop", "ALL", "--new-session",
            "--die-with-parent",
            "--ro-bind", "/usr", "/usr", "--symlink", "usr/bin", "/bin", "--perms", "1777", "--size", "1048576", "--tmpfs", "/tmp",
            "--remount-ro", "/",
            "--clearenv",
            "--chdir", "/work", "--seccomp", "3", "--json-status-fd", "4", "--block-fd", "5",
            "--", "/bin/sh", "-c", "echo hi",
        ], argv);
    }

    [Fact]
    public void Survival_is_opt_in()
    {
        var argv = Sample(dieWithParent: false).ToArgv("bwrap");
        Assert.DoesNotContain("--die-with-parent", argv);
    }

    [Fact]
    public void Only_the_listed_capabilities_are_kept_each_after_dropping_all()
    {
        Assert.DoesNotContain("--cap-add", Sample().ToArgv("bwrap"));
        var argv = (Sample() with { Capabilities = ["CAP_SETUID", "CAP_KILL"] }).ToArgv("bwrap").ToList();
        var drop = argv.IndexOf("--cap-drop");
        Assert.Equal("ALL", argv[drop + 1]);
        // bwrap 0.8 reads one capability per --cap-add, in order after the drop.
        Assert.Equal(["--cap-add", "CAP_SETUID", "--cap-add", "CAP_KILL"], argv.Skip(argv.IndexOf("--cap-add")).Take(4));
        Assert.True(argv.IndexOf("--cap-add") > drop);
    }

    [Fact]
    public void The_command_follows_the_double_dash_so_it_is_never_read_as_options()
    {
        var args = Sample() with { Command = ["--ro-bind", "/", "/"] };
        var argv = args.ToArgv("bwrap");
        var dash = argv.ToList().LastIndexOf("--");
        Assert.Equal(["--ro-bind", "/", "/"], argv.Skip(dash + 1));
    }

    [Fact]
    public void The_commands_environment_is_options_after_clearing_bwraps_own()
    {
        var args = Sample() with { Environment = new Dictionary<string, string> { ["LD_PRELOAD"] = "/x.so", ["A"] = "b c" } };
        var argv = args.ToArgv("bwrap").ToList();
        var clear = argv.IndexOf("--clearenv");
        Assert.True(clear > 0 && clear < argv.IndexOf("--"));
        Assert.Equal(["--setenv", "LD_PRELOAD", "/x.so", "--setenv", "A", "b c"], argv.Skip(clear + 1).Take(6));
        // In the --args file too (what the launcher sends), and never on bwrap's command line.
        Assert.Contains("--setenv\0LD_PRELOAD\0/x.so\0", System.Text.Encoding.UTF8.GetString(args.ToArgsFile()));
        Assert.DoesNotContain("LD_PRELOAD", args.ToArgvWithArgsFd("bwrap", 10));
    }
}
