namespace Sandbox.Isolation.Container;

/// <summary>Settings of the container tier.</summary>
public sealed record BubblewrapOptions
{
    /// <summary>The bubblewrap binary. Default /usr/bin/bwrap.</summary>
    public string BwrapPath { get; init; } = "/usr/bin/bwrap";

    /// <summary>util-linux setpriv: the host probe reports it (the microVM tier's jail drops to the VM's uid with it). The
    /// container tier drops to a sandbox's host uid with the agent bundle's sandbox-launch instead (<see cref="Users.AsHostUser"/>).</summary>
    public string SetprivPath { get; init; } = "/usr/bin/setpriv";

    /// <summary>Name of the cgroup that holds one child cgroup per sandbox, under each v1 hierarchy's root or under the
    /// v2 placement root (a delegated subtree or cgroup-namespace root; see docs/architecture.md). Default "sandbox".</summary>
    public string CgroupParent { get; init; } = "sandbox";

    /// <summary>First host uid/gid of the sandboxes' id ranges: each live sandbox gets [b, b + 65536) of its own
    /// (b = base + k·65536), seen inside as 0..65535, so uid 0 inside is host uid b. Far from real accounts and from
    /// systemd's ranges: default 0x70000000 (1879048192).</summary>
    public int UidRangeBase { get; init; } = 0x7000_0000;

    /// <summary>How many 65536-wide ranges there are. Default 1024 (up to host uid 0x74000000).</summary>
    public int UidRangeCount { get; init; } = 1024;

    /// <summary>Root-only directory of the range lock files ({first uid}.lock, flock'ed while a sandbox holds the range),
    /// shared by every engine process of this host so that no two of them hand out the same ids. Default
    /// /run/sandbox/uid-ranges.</summary>
    public string UidRangeLockDirectory { get; init; } = "/run/sandbox/uid-ranges";

    /// <summary>util-linux unshare, which gives a sandbox with an image root a private mount namespace for its overlay.
    /// (The drop to a sandbox's owner uid and its user namespace are the agent bundle's <c>sandbox-launch</c>:
    /// <see cref="Users.AsHostUser"/>.)</summary>
    public string UnsharePath { get; init; } = "/usr/bin/unshare";

    /// <summary>procps sysctl, which opens the low ports of a pod's shared network namespace to its members.</summary>
    public string SysctlPath { get; init; } = "/usr/sbin/sysctl";

    /// <summary>The POSIX shell that mounts an image sandbox's overlay (a fixed script; values go in as arguments).</summary>
    public string ShellPath { get; init; } = "/bin/sh";

    /// <summary>Where prepared files are cached (the host rootfs's /etc copy, under guest-etc/). Default /var/cache/sandbox.</summary>
    public string CacheDirectory { get; init; } = "/var/cache/sandbox";

    /// <summary>Root-only host directory holding the agent socket of each sandbox created with
    /// <see cref="SandboxSpec.DieWithOwner"/> = false ({id}.sock), through which a restarted owner re-attaches. It is
    /// never mounted into a sandbox. Such sandboxes cannot be created without it.</summary>
    public string? ChannelDirectory { get; init; }

    /// <summary>How long one ordinary call to a sandbox's agent may take before the sandbox is declared broken
    /// (killed, every later call failing at once). Generous: a false alarm kills a healthy sandbox. Default 15 s.</summary>
    public TimeSpan AgentCallDeadline { get; init; } = TimeSpan.FromSeconds(15);

    /// <summary>How long a new sandbox's agent may take to answer its first ping. Default 15 s.</summary>
    public TimeSpan AgentStartTimeout { get; init; } = TimeSpan.FromSeconds(15);

    /// <summary>How long the agent of a sandbox being taken back after a restart may take to answer. Default 5 s.</summary>
    public TimeSpan AgentAttachTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Directory with the agent (sandbox-agent and lib/). Null = found next to the program or installed.</summary>
    public string? AgentDirectory { get; init; }

    /// <summary>Programs and state directory of network mode egress (docs/network.md).</summary>
    public Network.NetworkOptions Network { get; init; } = new();
}
