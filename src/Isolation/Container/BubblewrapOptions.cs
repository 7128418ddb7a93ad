namespace Sandbox.Isolation.Container;

/// <summary>Settings of the container tier.</summary>
public sealed record BubblewrapOptions
{
    /// <summary>The bubblewrap binary. Default /usr/bin/bwrap.</summary>
    public string BwrapPath { get; init; } = "/usr/bin/bwrap";

    /// <summary>util-linux setpriv, used to drop from root to the sandbox's unprivileged host uid before bwrap runs.</summary>
    public string SetprivPath { get; init; } = "/usr/bin/setpriv";

    /// <summary>Name of the cgroup that holds one child cgroup per sandbox, under each v1 hierarchy's root or under the
    /// v2 placement root (a delegated subtree or cgroup-namespace root; see docs/architecture.md). Default "sandbox".</summary>
    public string CgroupParent { get; init; } = "sandbox";

    /// <summary>First host uid/gid given to sandboxes; each sandbox gets its own from [base, base + count).
    /// None of them may be a real account. Default 200000.</summary>
    public int HostUidBase { get; init; } = 200_000;

    /// <summary>Size of the host uid range. Default 65536.</summary>
    public int HostUidCount { get; init; } = 65_536;

    /// <summary>Root-only directory of the host uid lock files ({uid}.lock, flock'ed while a sandbox holds the uid), shared
    /// by every engine process of this host so that no two of them hand out the same uid. Default /run/sandbox/uids.</summary>
    public string HostUidLockDirectory { get; init; } = HostUidAllocator.DefaultLockDirectory;

    /// <summary>util-linux prlimit, which sets the sandbox's rlimits (nofile, fsize, core) on itself before bwrap runs.</summary>
    public string PrlimitPath { get; init; } = "/usr/bin/prlimit";

    /// <summary>util-linux unshare, which gives a sandbox with an image root a private mount namespace for its overlay.</summary>
    public string UnsharePath { get; init; } = "/usr/bin/unshare";

    /// <summary>The POSIX shell that mounts an image sandbox's overlay (a fixed script; values go in as arguments).</summary>
    public string ShellPath { get; init; } = "/bin/sh";

    /// <summary>Where prepared files are cached (the host rootfs's /etc copy, under guest-etc/). Default /var/cache/sandbox.</summary>
    public string CacheDirectory { get; init; } = "/var/cache/sandbox";

    /// <summary>uid and gid of the sandboxed user as seen inside. Default 1000.</summary>
    public int SandboxUid { get; init; } = 1000;

    /// <summary>Root-only host directory holding the agent socket of each sandbox created with
    /// <see cref="SandboxSpec.DieWithOwner"/> = false ({id}.sock), through which a restarted owner re-attaches. It is
    /// never mounted into a sandbox. Such sandboxes cannot be created without it.</summary>
    public string? ChannelDirectory { get; init; }

    /// <summary>Directory with the agent (sandbox-agent and lib/). Null = found next to the program or installed.</summary>
    public string? AgentDirectory { get; init; }

    /// <summary>Programs and state directory of network mode egress (docs/network.md).</summary>
    public Network.NetworkOptions Network { get; init; } = new();
}
