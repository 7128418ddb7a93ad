namespace Sandbox.Core;

/// <summary>What a caller asks for when creating a sandbox (or a one-shot run): a hint to the policy, which decides.
/// Fail-safe: what the caller does not say about trust counts against it (null <see cref="Untrusted"/> = untrusted,
/// null <see cref="CodeProvenance"/> = "unknown").</summary>
public sealed record SandboxRequest
{
    /// <summary>null = auto (the policy decides).</summary>
    public Isolation.SandboxTier? Tier { get; init; }
    /// <summary>Absolute host directory used as the root; null = the host's userland.</summary>
    public string? Rootfs { get; init; }
    public string? Image { get; init; }
    public RequestedLimits Resources { get; init; } = new();
    /// <summary>Egress entries wanted ("HOST[:PORT]", "IPV4[/PREFIX][:PORT]"; 127.0.0.1 = the host's loopback);
    /// empty = no network unless ports are published.</summary>
    public IReadOnlyList<string> Egress { get; init; } = [];
    /// <summary>Ports to publish on the host's loopback, "HOSTPORT:PORT" (network mode egress).</summary>
    public IReadOnlyList<string> Publish { get; init; } = [];
    /// <summary>"none" or "egress"; null = egress when <see cref="Egress"/> or <see cref="Publish"/> name anything.</summary>
    public string? NetworkMode { get; init; }
    public IReadOnlyDictionary<string, string> Env { get; init; } = new Dictionary<string, string>();
    public IReadOnlyDictionary<string, string> Labels { get; init; } = new Dictionary<string, string>();
    /// <summary>The workload's annotations (an OCI bundle's), shown to the policy.</summary>
    public IReadOnlyDictionary<string, string> Annotations { get; init; } = new Dictionary<string, string>();
    /// <summary>The namespace the workload was submitted in (the containerd namespace), shown to the policy; null = none.</summary>
    public string? Namespace { get; init; }
    /// <summary>null = the configured default TTL.</summary>
    public TimeSpan? Ttl { get; init; }
    public string? WorkDir { get; init; }
    /// <summary>Who processes run as inside: "root", "UID" or "UID:GID" (<see cref="Isolation.SandboxUser.Parse"/>); null =
    /// the tier's unprivileged default (1000:1000). Root inside is the first host uid of the sandbox's own unprivileged
    /// range, without capabilities (an image's root-owned files are its own: `apt-get install` in a Debian image).</summary>
    public string? User { get; init; }
    /// <summary>The sandbox's hostname; null = the engine's default.</summary>
    public string? Hostname { get; init; }
    /// <summary>Extra syscalls wanted on top of the profile (the policy filters them).</summary>
    public IReadOnlyList<string> Syscalls { get; init; } = [];
    /// <summary>The seccomp profile wanted; null = the policy's choice.</summary>
    public string? SyscallProfile { get; init; }
    /// <summary>A profile the policy's is narrowed by (a call runs only when both allow it), e.g. an OCI bundle's
    /// linux.seccomp; null = none. It can only take syscalls away.</summary>
    public SyscallFilter.SeccompProfile? NarrowingSyscallProfile { get; init; }
    /// <summary>Join the network namespace of this sandbox of the same tenant instead of getting one (a pod: a CI job's
    /// service containers share its loopback); the network of the joined sandbox is the one its own decision gave it,
    /// and this request must ask for none of its own. Offered by tiers with <see cref="Isolation.DriverCapabilities.SharedNetwork"/>
    /// (the container tier); null = a network of its own.</summary>
    public string? NetworkOf { get; init; }
    /// <summary>Join the network namespace an orchestrator made for the workload, by its path (a CRI pod's
    /// <c>/var/run/netns/cni-…</c>, which containerd set up with CNI before the pod's first container), instead of
    /// getting one: the policy sees it (requested.network mode "netns" with this path) and must grant exactly it
    /// (decision network mode "netns"); the engine accepts only a network namespace's own mount, never the host's.
    /// Offered by tiers with <see cref="Isolation.DriverCapabilities.OrchestratorNetwork"/>; null = not asked.</summary>
    public string? NetworkNamespace { get; init; }
    /// <summary>Host names that resolve to the sandbox's loopback (its /etc/hosts), as a CI job names its services;
    /// tiers with <see cref="Isolation.DriverCapabilities.SharedNetwork"/> only.</summary>
    public IReadOnlyList<string> LoopbackNames { get; init; } = [];
    /// <summary>This sandbox is a pod's first (a CRI pod's sandbox container): when the policy puts it on the microVM
    /// tier, its VM is made able to take the pod's later sandboxes as containers inside it (<see cref="PodOf"/>).</summary>
    public bool HostsPod { get; init; }
    /// <summary>A later sandbox of a pod: the id of the pod's first sandbox (same tenant). Core makes this one a
    /// container inside that sandbox's microVM when both decisions are the microVM tier and nothing of the VM would
    /// widen this sandbox's own decision (its network); otherwise it gets a sandbox of its own, and the log says why.
    /// Null = not part of a pod.</summary>
    public string? PodOf { get; init; }
    /// <summary>Host directories and files shown inside (an OCI bundle's binds): tiers that take them (the microVM tier)
    /// only; the container tier refuses them. Not in the policy's input yet: whoever gives them controls the host.</summary>
    public IReadOnlyList<Isolation.HostMount> HostMounts { get; init; } = [];
    /// <summary>tmpfs mounts the sandbox owns (an OCI bundle's tmpfs mounts), both tiers; a size of 0 gets
    /// <see cref="Isolation.ScratchMount.DefaultSize"/> of the granted disk cap, a larger one than that cap is refused.</summary>
    public IReadOnlyList<Isolation.ScratchMount> ScratchMounts { get; init; } = [];
    /// <summary>The caller says the code is (un)trusted; null = it did not say, which counts as untrusted.</summary>
    public bool? Untrusted { get; init; }
    /// <summary>"tenant", "fork" or "unknown"; null = it did not say, which counts as "unknown".</summary>
    public string? CodeProvenance { get; init; }
}

/// <summary>Requested limits; null = the policy's default.</summary>
public sealed record RequestedLimits(long? MemoryMiB = null, double? Vcpus = null, int? Pids = null, long? DiskMiB = null,
    int? TimeoutS = null, long? OutputBytes = null);
