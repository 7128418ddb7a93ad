namespace Sandbox.SandboxApi.Configuration;

/// <summary>sandboxd's configuration (/etc/sandbox/sandboxd.yaml). Keys are snake_case in YAML; every key is
/// documented in docs/sandboxd.md. Loaded and validated once, at startup: a bad file stops the daemon with the exact
/// key and the reason.</summary>
public sealed record SandboxdConfig
{
    public const string DefaultPath = "/etc/sandbox/sandboxd.yaml";

    public ListenConfig Listen { get; init; } = new();
    public IReadOnlyList<TenantConfig> Tenants { get; init; } = [];
    public PolicyConfig Policy { get; init; } = new();
    /// <summary>Directory of the sandbox registry (one JSON file per sandbox). Default /var/lib/sandboxd.</summary>
    public string StateDir { get; init; } = "/var/lib/sandboxd";
    public SandboxesConfig Sandboxes { get; init; } = new();
    public ContainerConfig Container { get; init; } = new();
    public MicroVmConfig MicroVm { get; init; } = new();
    public ImagesConfig Images { get; init; } = new();
    public LogConfig Log { get; init; } = new();
    public PoolsConfig Pools { get; init; } = new();
}

public sealed record ImagesConfig
{
    /// <summary>The image store `--image NAME:TAG` resolves in (`sandbox image … --store DIR` manages the same
    /// directory). Default /var/cache/sandbox/images.</summary>
    public string StoreDir { get; init; } = "/var/cache/sandbox/images";
}

public sealed record ListenConfig
{
    /// <summary>Unix socket path. Default /run/sandbox/sandboxd.sock. Ignored under socket activation.</summary>
    public string UnixPath { get; init; } = "/run/sandbox/sandboxd.sock";
    /// <summary>Permission bits of the socket file. Default 0660.</summary>
    public UnixFileMode UnixMode { get; init; } = (UnixFileMode)0b110_110_000;
    /// <summary>Group that owns the socket file (null = root's).</summary>
    public string? UnixGroup { get; init; }
    /// <summary>Optional TCP listener "host:port" with TLS; callers authenticate with a bearer token.</summary>
    public string? Tcp { get; init; }
    /// <summary>PEM certificate and key for the TCP listener.</summary>
    public string? TlsCertificate { get; init; }
    public string? TlsKey { get; init; }
    /// <summary>PEM file of the CA certificate(s) client certificates must chain to. When set, the TCP listener requires
    /// a client certificate, and its subject CN names the tenant (which must be listed in tenants[]).</summary>
    public string? TlsClientCa { get; init; }
    /// <summary>Optional plain-HTTP Prometheus endpoint "host:port" serving GET /metrics (loopback recommended).</summary>
    public string? Metrics { get; init; }
}

public sealed record TenantConfig
{
    public required string Name { get; init; }
    /// <summary>Unix uids whose connections act as this tenant.</summary>
    public IReadOnlyList<int> Uids { get; init; } = [];
    /// <summary>SHA-256 (hex) of bearer tokens accepted for this tenant on the TCP listener.</summary>
    public IReadOnlyList<string> TokenSha256 { get; init; } = [];
    /// <summary>Most sandboxes (long-lived and running one-shots) the tenant may have at once. Default 32.</summary>
    public int MaxSandboxes { get; init; } = 32;
    /// <summary>Most memory, MiB, summed over the tenant's sandboxes' limits. Default 16384.</summary>
    public long MaxMemoryMiB { get; init; } = 16384;
    /// <summary>Most streaming calls (Exec, Run, WriteFile, ReadFile, WatchEvents) the tenant may have open at once.
    /// Default 64.</summary>
    public int MaxStreams { get; init; } = 64;
    /// <summary>Most stream buffer memory, MiB, sandboxd may hold for the tenant's open streams (each reserves its
    /// worst case: about 3 MiB for Exec/Run, 4 MiB for a file transfer, 256 KiB for WatchEvents). Default 256.</summary>
    public long MaxInflightMiB { get; init; } = 256;
}

public sealed record PolicyConfig
{
    /// <summary>Directory of an OPA bundle (policy .rego + data.json); null = the default bundle embedded in the binary.</summary>
    public string? Bundle { get; init; }
    /// <summary>URL of a remote OPA (instead of the embedded evaluator).</summary>
    public string? OpaUrl { get; init; }
    public CeilingsConfig Ceilings { get; init; } = new();
}

/// <summary>Host ceilings: a policy can lower limits, never raise them past these.</summary>
public sealed record CeilingsConfig
{
    public long MemoryMiB { get; init; } = 16384;
    public int Vcpus { get; init; } = 16;
    public int Pids { get; init; } = 32768;
    public long DiskMiB { get; init; } = 102400;
    public int TimeoutS { get; init; } = 86400;
}

public sealed record SandboxesConfig
{
    /// <summary>TTL of a sandbox created without one, seconds. Default 3600.</summary>
    public int DefaultTtlS { get; init; } = 3600;
    /// <summary>Longest TTL a caller may ask for, seconds. Default 86400.</summary>
    public int MaxTtlS { get; init; } = 86400;
    /// <summary>How often expired sandboxes are looked for, milliseconds. Default 5000.</summary>
    public int ReapIntervalMs { get; init; } = 5000;
}

public sealed record MicroVmConfig
{
    /// <summary>Every process in a microVM guest gets randomized addresses (MicroVmOptions.GuestAddressSpaceRandomization).
    /// Default true; false boots guests with norandmaps: under TCG a process start is ~3x cheaper (docs/microvm-bench.md),
    /// the workload's own programs lose ASLR's hardening (the VM boundary and the guest kernel's KASLR are unchanged).</summary>
    public bool GuestAddressRandomization { get; init; } = true;
    /// <summary>The QEMU binary (MicroVmOptions.QemuPath). null (the default) = the tier's choice: bookworm-backports'
    /// 10.x in /opt/qemu10 where scripts/install-qemu-backports.sh (run by bootstrap) installed it, else the system's
    /// /usr/bin/qemu-system-x86_64 (Debian 12: 7.2). Set, it must exist and be root's, in a root-only directory chain.</summary>
    public string? Qemu { get; init; }
    /// <summary>TCG translation cache of a VM restored from a snapshot template, MiB (MicroVmOptions.CloneTcgTranslationCacheMiB).
    /// null = the cold boot's 64. A smaller one caps an idle clone's memory; a busy clone that fills it translates again.</summary>
    public int? CloneTranslationCacheMiB { get; init; }
    /// <summary>A restored clone's QEMU backs its translated code with transparent huge pages
    /// (MicroVmOptions.TranslationBufferHugePages). Default true: fewer host page faults per restore; false: ~2-3 MiB
    /// less PSS per clone.</summary>
    public bool TranslationBufferHugePages { get; init; } = true;
}

public sealed record ContainerConfig
{
    /// <summary>Directory of the sandbox agent (null = next to sandboxd, $SANDBOX_AGENT_DIR, /usr/local/lib/sandbox/agent).</summary>
    public string? AgentDir { get; init; }
    /// <summary>Cgroup (under each hierarchy's root) holding sandboxd's sandboxes. Owned by sandboxd: leftovers in it are
    /// killed and removed at startup. Default "sandboxd" (the CLI's --local runs use "sandbox").</summary>
    public string CgroupParent { get; init; } = "sandboxd";
    /// <summary>First host uid of sandboxd's sandboxes' uid ranges: each sandbox gets 65536 host ids of its own from
    /// here (inside 0..65535). Default 0x74000000 (the CLI's --local runs use 0x70000000).</summary>
    public int UidRangeBase { get; init; } = 0x7400_0000;
    /// <summary>How many 65536-wide ranges (the most sandboxes at once). Default 1024.</summary>
    public int UidRangeCount { get; init; } = 1024;
}

public sealed record LogConfig
{
    /// <summary>verbose, debug, information, warning, error. Default information.</summary>
    public string Level { get; init; } = "information";
    /// <summary>Optional file of JSON log events (one per line).</summary>
    public string? JsonFile { get; init; }
}

/// <summary>Warm pools: sandboxes created ahead of requests, per shape (Sandbox.Core's SandboxPools).</summary>
public sealed record PoolsConfig
{
    /// <summary>Most pooled sandboxes created per second ahead of demand (filling, TTL replacement), over all pools.
    /// Default 5. Refills replacing what requests took are not held to it.</summary>
    public double MaxRefillPerS { get; init; } = 5;
    /// <summary>Most refills launching at once, over all pools (replacing claimed sandboxes). Default 2; 0 = refill only
    /// ahead of demand (see Sandbox.Core's PoolOptions.RefillConcurrency).</summary>
    public int RefillConcurrency { get; init; } = 2;
    /// <summary>A pooled sandbox older than this is replaced, seconds. Default 600.</summary>
    public int TtlS { get; init; } = 600;
    /// <summary>The pools; null (the key absent) = <see cref="Defaults"/>; an empty list = no pools.</summary>
    public IReadOnlyList<PoolShapeConfig>? Shapes { get; init; }

    /// <summary>Without a <c>shapes</c> key: 2 containers of the default shape, and 2 microVMs where KVM is usable.</summary>
    public static IReadOnlyList<PoolShapeConfig> Defaults { get; } =
    [
        new() { Name = "container", Tier = "container", Size = 2 },
        new() { Name = "microvm", Tier = "microvm", Size = 2, KvmOnly = true },
    ];

    public IReadOnlyList<PoolShapeConfig> EffectiveShapes => Shapes ?? Defaults;
}

/// <summary>One pool: what the policy decides for a request of <see cref="Tenant"/> asking for this tier (and image,
/// rootfs, seccomp profile) is launched <see cref="Size"/> times ahead; a request claims one when its own decision
/// matches in everything fixed at launch.</summary>
public sealed record PoolShapeConfig
{
    public required string Name { get; init; }
    /// <summary>container or microvm.</summary>
    public required string Tier { get; init; }
    /// <summary>Sandboxes kept waiting, 0..64 (0 = off).</summary>
    public int Size { get; init; } = 2;
    /// <summary>Whose decision the shape is (a tenant of tenants[]); null = the first tenant listed.</summary>
    public string? Tenant { get; init; }
    /// <summary>The shape's request vouches for its code (untrusted: false, code_provenance: tenant). Default true.</summary>
    public bool Trusted { get; init; } = true;
    public string? Image { get; init; }
    public string? Rootfs { get; init; }
    public string? SyscallProfile { get; init; }
    /// <summary>Keep this pool only where microVMs run on KVM. Default false.</summary>
    public bool KvmOnly { get; init; }
}
