namespace Sandbox.Isolation;

/// <summary>Everything a driver needs to create a sandbox. Limits come from the policy decision, already clamped to
/// the host's ceilings; the driver enforces them and reports what it really applied in <see cref="SandboxInfo"/>.</summary>
public sealed record SandboxSpec
{
    public SandboxId Id { get; init; } = SandboxId.New();

    public RootfsSpec Rootfs { get; init; } = RootfsSpec.Host;

    public ResourceLimits Limits { get; init; } = ResourceLimits.Default;

    public NetworkMode Network { get; init; } = NetworkMode.None;

    /// <summary>Mode <see cref="NetworkMode.Egress"/>: where the sandbox may connect (at least one entry); names are
    /// resolved by the host at create time and pinned. Empty otherwise.</summary>
    public IReadOnlyList<Network.EgressRule> EgressAllow { get; init; } = [];

    /// <summary>Mode <see cref="NetworkMode.Egress"/>: TCP ports of the sandbox published on the host's loopback.</summary>
    public IReadOnlyList<Network.PublishedPort> PublishedPorts { get; init; } = [];

    /// <summary>Join this sandbox's network namespace instead of making one (a pod: the two share loopback, so one
    /// reaches the other at 127.0.0.1); <see cref="Network"/> must be <see cref="NetworkMode.None"/> (the network is the
    /// other sandbox's, as its own policy decided it). Container tier only, except an orchestrator's namespace
    /// (<see cref="Network.NetworkNamespaceFile"/>), which the microVM tier takes over through a tap; null = a namespace
    /// of its own.</summary>
    public ISharedNetworkNamespace? NetworkOf { get; init; }

    /// <summary>The sandbox will host a pod: later sandboxes become containers inside it (<see cref="IPodHost"/>).
    /// The microVM tier boots such a VM with the pod share (a 9p export their roots come through: QEMU's microvm
    /// machine has no hotplug) and cold (no snapshot template). Other tiers ignore it.</summary>
    public bool HostsPod { get; init; }

    /// <summary>Host names that resolve to the sandbox's own loopback (127.0.0.1) through its /etc/hosts, besides
    /// localhost: the names of services sharing its network (<see cref="NetworkOf"/>). Container tier only.</summary>
    public IReadOnlyList<string> LoopbackNames { get; init; } = [];

    /// <summary>Host directories and files shown inside (an OCI bundle's binds): microVM tier only, the container
    /// tier refuses them (its caller binds into the root it gives). Empty = none.</summary>
    public IReadOnlyList<HostMount> HostMounts { get; init; } = [];

    /// <summary>tmpfs mounts the sandbox owns (an OCI bundle's tmpfs mounts), both tiers; sized by Core
    /// (<see cref="ScratchMount.Sized"/>). Empty = none.</summary>
    public IReadOnlyList<ScratchMount> ScratchMounts { get; init; } = [];

    /// <summary>Environment for every process, before a process's own <see cref="ProcessSpec.Env"/>.</summary>
    public IReadOnlyDictionary<string, string> Env { get; init; } = new Dictionary<string, string>();

    /// <summary>Name of the seccomp profile (built in: default, strict).</summary>
    public string SyscallProfile { get; init; } = "default";

    /// <summary>Syscalls the policy allows on top of the named profile.</summary>
    public IReadOnlyList<string> ExtraSyscalls { get; init; } = [];

    /// <summary>A profile the named one (with its extras) is intersected with: a call is allowed only when both allow
    /// it (SeccompIntersection); null = none. Never loosens the filter.</summary>
    public SyscallFilter.SeccompProfile? NarrowingSyscallProfile { get; init; }

    public string Hostname { get; init; } = "sandbox";

    /// <summary>The working directory processes start in unless they name one: a size-capped tmpfs.</summary>
    public string WorkDir { get; init; } = "/work";

    /// <summary>Who processes run as inside the sandbox; null = the tier's default (<see cref="SandboxUser.Default"/>,
    /// 1000:1000). <see cref="SandboxUser.Root"/> runs them as root of the sandbox's user namespace, which is an
    /// unprivileged host uid (the first of the sandbox's range), still without capabilities. The container tier takes
    /// any user; the microVM tier only its configured guest user for now (others are refused, never ignored).</summary>
    public SandboxUser? User { get; init; }

    /// <summary>Allow the sandboxed code to create nested user namespaces (bwrap --disable-userns otherwise).</summary>
    public bool AllowNestedUserNamespaces { get; init; }

    /// <summary>Kill the sandbox when the process that created it exits (the CLI); a daemon that re-attaches
    /// sandboxes after a restart turns this off.</summary>
    public bool DieWithOwner { get; init; } = true;

    /// <summary>microVM tier: refuse (FailedPrecondition) rather than run under software emulation (TCG) where KVM is
    /// unusable. Never a silent downgrade. The container tier ignores it.</summary>
    public bool RequireHardwareVirtualization { get; init; }
}

/// <summary>What the sandbox sees as its root file system.</summary>
public abstract record RootfsSpec
{
    /// <summary>Read-only binds of the host's userland (/usr, /bin, /lib*, a subset of /etc), so python3, sh, gcc run.</summary>
    public static RootfsSpec Host { get; } = new HostRootfs();

    public static RootfsSpec Directory(string path) => new DirectoryRootfs(path);

    public static RootfsSpec Image(string lowerDirectory, string key) => new ImageRootfs(lowerDirectory, key);
}

public sealed record HostRootfs : RootfsSpec;

/// <summary>A host directory mounted read-only as the root; writes go to tmpfs mounts (/tmp and the work dir).</summary>
public sealed record DirectoryRootfs(string Path) : RootfsSpec;

/// <summary>An image's unpacked root from the image store (src/Isolation/Images): shared, read-only, never written.
/// The container tier lays a writable upper layer over it (a kernel overlay whose upper is a tmpfs capped at
/// <see cref="ResourceLimits.DiskMiB"/>, gone with the sandbox); the microVM tier shares it read-only like a
/// directory rootfs. <paramref name="Key"/> is the store's stable digest of this root (its chain id): a tier that
/// derives a cached form of the root (a block image) keys it by this.</summary>
public sealed record ImageRootfs(string LowerDirectory, string Key) : RootfsSpec;

public enum NetworkMode
{
    /// <summary>Own network namespace with only loopback.</summary>
    None,

    /// <summary>Outbound connections to <see cref="SandboxSpec.EgressAllow"/> only, through a user-mode stack (pasta),
    /// filtered in a network namespace the sandbox has no capability over; a resolver answering the allowed names
    /// only; optional published ports on the host's loopback (docs/network.md).</summary>
    Egress,
}

/// <summary>Resource limits, units in the names. Zero means "not limited" only where said.</summary>
public sealed record ResourceLimits
{
    public static ResourceLimits Default { get; } = new();

    /// <summary>Memory ceiling for the whole sandbox (all processes), MiB. Default 512.</summary>
    public long MemoryMiB { get; init; } = 512;

    /// <summary>CPU quota in CPUs (0.5 = half a core). 0 = no quota. Default 1.</summary>
    public double Cpus { get; init; } = 1;

    /// <summary>Whether the caller asked for <see cref="Cpus"/> itself. Then a host whose cgroups cannot enforce a CPU
    /// quota (the cpu controller not delegated) refuses the sandbox, naming the controller. Otherwise the quota is a
    /// default: applied where the cpu controller is available, left out where it is not, and
    /// <see cref="SandboxInfo.Limits"/> then reports Cpus = 0 (no quota). Default false.</summary>
    public bool CpuQuotaRequired { get; init; }

    /// <summary>Maximum number of tasks (processes + threads) in the sandbox. Default 256.</summary>
    public int PidsMax { get; init; } = 256;

    /// <summary>Size cap of each writable tmpfs (/tmp, the work dir), MiB. Default 256.</summary>
    public long DiskMiB { get; init; } = 256;

    /// <summary>Wall-clock limit of one process (one-shot run or exec); null = none.</summary>
    public TimeSpan? WallTime { get; init; } = TimeSpan.FromMinutes(10);

    /// <summary>Bytes kept from each of stdout and stderr; the rest is dropped and reported as truncated.</summary>
    public long OutputBytes { get; init; } = 16L << 20;

    /// <summary>RLIMIT_NOFILE. Default 1024.</summary>
    public int OpenFiles { get; init; } = 1024;

    /// <summary>RLIMIT_FSIZE (largest file a process may write), MiB. Default = DiskMiB.</summary>
    public long? FileSizeMiB { get; init; }
}
