namespace Sandbox.Isolation.Container;

/// <summary>A bwrap invocation as data; <see cref="ToArgv"/> is the only place its command line is written.
/// Descriptor numbers are the ones the child sees (see <see cref="BwrapFds"/>).</summary>
internal sealed record BwrapArguments
{
    /// <summary>uid and gid of the command inside the sandbox's user namespace.</summary>
    public required int Uid { get; init; }
    public required int Gid { get; init; }
    public required string Hostname { get; init; }

    /// <summary>Capabilities the command keeps (inside the sandbox's user namespace only; bwrap raises them as ambient
    /// so they survive the exec of a non-root command). Empty for every workload; the agent's own set otherwise
    /// (<see cref="AgentCapabilities"/>).</summary>
    public IReadOnlyList<string> Capabilities { get; init; } = [];
    public required bool DieWithParent { get; init; }
    public required IReadOnlyList<MountOp> Mounts { get; init; }
    public required string WorkingDirectory { get; init; }
    public required IReadOnlyList<string> Command { get; init; }

    /// <summary>The command's whole environment, given to bwrap as options (<c>--clearenv</c>, then <c>--setenv</c> for
    /// each variable) instead of through the launch chain's own: the chain starts as root (nsenter, the image overlay's
    /// shell, prlimit, the drop to the owner) and bwrap runs on the host as the owner, so a request's LD_PRELOAD,
    /// LD_LIBRARY_PATH, GCONV_PATH or LOCPATH must never reach their dynamic loader or libc. bwrap applies the options
    /// after it has started, to itself and so to the command it execs.</summary>
    public IReadOnlyDictionary<string, string> Environment { get; init; } = new Dictionary<string, string>();

    /// <summary>The command is the pid namespace's PID 1 (no bwrap reaper): the kernel then drops every signal sent to
    /// it from inside the namespace that it does not handle, so the workload cannot SIGSTOP or SIGKILL it. Only for
    /// a command that reaps orphans itself (the agent).</summary>
    public bool AsPid1 { get; init; }

    /// <summary>Keep the network namespace bwrap was started in (no --unshare-net): the egress namespace the host
    /// prepared and entered with nsenter before the launch chain (see <see cref="Network.SandboxNetwork"/>).</summary>
    public bool JoinedNetwork { get; init; }

    /// <summary>What the agent of a long-lived container keeps, in the sandbox's user namespace only: set its children's
    /// uid, gid and groups (SETUID, SETGID), empty their bounding set (SETPCAP), signal them (KILL: they have another
    /// uid) and give them RLIMIT_NPROC (SYS_RESOURCE). None of these reaches any process it starts (see the agent's
    /// ContainerConfinement), nor anything on the host.</summary>
    public static readonly IReadOnlyList<string> AgentCapabilities =
        ["CAP_SETUID", "CAP_SETGID", "CAP_SETPCAP", "CAP_KILL", "CAP_SYS_RESOURCE"];

    /// <summary>The namespaces every container gets; reported in <see cref="SandboxInfo.Namespaces"/>.</summary>
    public static readonly IReadOnlyList<string> Namespaces = ["user", "pid", "mount", "ipc", "uts", "net", "cgroup"];

    public IReadOnlyList<string> ToArgv(string bwrapPath)
    {
        var argv = new List<string>
        {
            bwrapPath,
            // The user namespace is the host's (SandboxUserNamespace: the range map, nested namespaces already
            // disabled there unless allowed): bwrap joins it and creates the others inside it.
            "--userns", BwrapFds.UserNamespace.ToString(),
            // bwrap 0.8 never closes the --userns descriptor; as --sync-fd it is closed before the command runs (kept
            // by bwrap's own init, or by the agent as PID 1, which marks it close-on-exec).
            "--sync-fd", BwrapFds.UserNamespace.ToString(),
            "--unshare-pid", "--unshare-ipc", "--unshare-uts",
        };
        if (!JoinedNetwork)
            argv.Add("--unshare-net");
        argv.AddRange(
        [
            "--unshare-cgroup",
            "--uid", Uid.ToString(), "--gid", Gid.ToString(),
            "--hostname", Hostname,
            "--cap-drop", "ALL",
            // A new session: no TIOCSTI into the caller's terminal.
            "--new-session",
        ]);
        foreach (var capability in Capabilities)
            argv.AddRange(["--cap-add", capability]);
        if (DieWithParent)
            argv.Add("--die-with-parent");
        if (AsPid1)
            argv.Add("--as-pid-1");
        foreach (var op in Mounts)
            argv.AddRange(op.ToArgs());
        argv.Add("--clearenv");
        foreach (var (name, value) in Environment)
            argv.AddRange(["--setenv", name, value]);
        argv.AddRange([
            "--chdir", WorkingDirectory,
            "--seccomp", BwrapFds.Seccomp.ToString(),
            "--json-status-fd", BwrapFds.Status.ToString(),
            "--block-fd", BwrapFds.Block.ToString(),
            "--",
        ]);
        argv.AddRange(Command);
        return argv;
    }

    /// <summary>The options of <see cref="ToArgv"/> (everything between bwrap and the command) as bwrap's --args file:
    /// NUL-terminated arguments.</summary>
    public byte[] ToArgsFile()
    {
        var argv = ToArgv("bwrap");
        var options = argv.Skip(1).Take(argv.Count - 1 - Command.Count - 1);
        return System.Text.Encoding.UTF8.GetBytes(string.Concat(options.Select(a => a + "\0")));
    }

    /// <summary>The command line bwrap runs with when its options come from <see cref="ToArgsFile"/> on
    /// <paramref name="argsFd"/>: nothing of the host's layout (mount sources such as the prepared /etc and the agent
    /// bundle) is on it, so a workload that reads /proc/1/cmdline (bwrap's reaper in a one-shot) sees only its own
    /// command.</summary>
    public IReadOnlyList<string> ToArgvWithArgsFd(string bwrapPath, int argsFd) => [bwrapPath, "--args", argsFd.ToString(), "--", .. Command];
}

/// <summary>Descriptor numbers in bwrap's process.</summary>
internal static class BwrapFds
{
    public const int Seccomp = 3;
    public const int Status = 4;
    public const int Block = 5;
    public const int Passwd = 6;
    public const int Group = 7;
    /// <summary>The agent's end of the host↔agent socket (long-lived sandboxes only).</summary>
    public const int Agent = 8;
    /// <summary>The sandbox resolver's resolv.conf laid over a directory rootfs's own (egress only).</summary>
    public const int ResolvConf = 9;
    /// <summary>bwrap's options (--args), a socket that bwrap reads to EOF and closes before it sets anything up
    /// (<see cref="BwrapOptionsGate"/>: the EOF comes once bwrap is in the sandbox's cgroup).</summary>
    public const int Args = 10;
    /// <summary>The sandbox's user namespace (<see cref="Users.SandboxUserNamespace"/>), joined by bwrap.</summary>
    public const int UserNamespace = 11;
    /// <summary>The generated /etc/hosts naming the sandbox's loopback (<see cref="SandboxSpec.LoopbackNames"/>).</summary>
    public const int Hosts = 12;
}
