using Google.Protobuf.WellKnownTypes;
using Sandbox.Api.V1;
using Sandbox.Cli.Parsing;
using Sandbox.Core;
using SandboxTier = Sandbox.Isolation.SandboxTier;

namespace Sandbox.Cli.Commands;

/// <summary>What the user asked for on `sandbox run` / `create`, parsed once; only what was given is sent (the policy
/// fills the rest). The same request goes to sandboxd (<see cref="ToProto"/>) or to the in-process Core
/// (<see cref="ToCore"/>).</summary>
internal sealed record RunFlags
{
    public long? MemoryMiB { get; init; }
    public int? Pids { get; init; }
    public double? Cpus { get; init; }
    public TimeSpan? Timeout { get; init; }
    public long? DiskMiB { get; init; }
    public long? OutputBytes { get; init; }
    public string? Profile { get; init; }
    public string? Rootfs { get; init; }
    /// <summary>NAME:TAG of an image in the store (exclusive with <see cref="Rootfs"/>).</summary>
    public string? Image { get; init; }
    public string? WorkDir { get; init; }
    /// <summary>--user root|UID[:GID]; null = the unprivileged default.</summary>
    public string? User { get; init; }
    public IReadOnlyDictionary<string, string> Env { get; init; } = new Dictionary<string, string>();
    public string? Tier { get; init; }
    /// <summary>The user vouches for the code (--trusted); otherwise it is untrusted code of unknown provenance.</summary>
    public bool Trusted { get; init; }
    public bool Verbose { get; init; }
    /// <summary>--network none|egress; null = egress when --allow or -p were given.</summary>
    public string? Network { get; init; }
    /// <summary>--allow HOST[:PORT]|CIDR[:PORT] (repeatable): egress the policy may grant.</summary>
    public IReadOnlyList<string> Allow { get; init; } = [];
    /// <summary>-p HOSTPORT:PORT (repeatable): ports published on the host's loopback.</summary>
    public IReadOnlyList<string> Publish { get; init; } = [];

    private bool WantsEgress => (Network ?? (Allow.Count > 0 || Publish.Count > 0 ? "egress" : "none")) == "egress";

    /// <summary>Whole seconds for the policy; the process itself gets the exact duration.</summary>
    private int? TimeoutS => Timeout is { } t ? (int)Math.Ceiling(t.TotalSeconds) : null;

    public CreateSandboxRequest ToProto()
    {
        var request = new CreateSandboxRequest
        {
            Tier = ParseTier(Tier) switch { SandboxTier.Container => Api.V1.Tier.Container, SandboxTier.MicroVm => Api.V1.Tier.Microvm, _ => Api.V1.Tier.Unspecified },
            Rootfs = Rootfs ?? "",
            Image = Image ?? "",
            Workdir = WorkDir ?? "",
            User = User ?? "",
            SyscallProfile = Profile ?? "",
            Resources = new Resources
            {
                MemoryMib = MemoryMiB ?? 0,
                Pids = Pids ?? 0,
                Vcpus = Cpus ?? 0,
                Timeout = TimeoutS is { } s ? Duration.FromTimeSpan(TimeSpan.FromSeconds(s)) : null,
                DiskMib = DiskMiB ?? 0,
                OutputBytes = OutputBytes ?? 0,
            },
        };
        if (WantsEgress)
        {
            request.Network = new Network { Mode = Api.V1.NetworkMode.Egress };
            request.Network.Egress.AddRange(Allow);
            request.Network.Publish.AddRange(Publish);
        }
        if (Trusted)
        {
            request.Untrusted = false;
            request.CodeProvenance = "tenant";
        }
        foreach (var (k, v) in Env)
            request.Env[k] = v;
        return request;
    }

    public SandboxRequest ToCore() => new()
    {
        Tier = ParseTier(Tier),
        Rootfs = Rootfs,
        Image = Image,
        WorkDir = WorkDir,
        User = User,
        SyscallProfile = Profile,
        Resources = new RequestedLimits(MemoryMiB, Cpus, Pids, DiskMiB, TimeoutS, OutputBytes),
        Env = Env,
        Untrusted = Trusted ? false : null,
        CodeProvenance = Trusted ? "tenant" : null,
        NetworkMode = WantsEgress ? "egress" : "none",
        Egress = WantsEgress ? Allow : [],
        Publish = WantsEgress ? Publish : [],
    };

    /// <summary>What the policy gave that differs from what was asked, as "memory 256 MiB (asked 512)" items.</summary>
    public IReadOnlyList<string> Clamped(Limits granted)
    {
        var differences = new List<string>();
        if (MemoryMiB is { } m && granted.MemoryMib != m) differences.Add($"memory {granted.MemoryMib} MiB (asked {m})");
        if (Cpus is { } c && Math.Abs(granted.Cpus - c) > 1e-9) differences.Add($"cpus {granted.Cpus:0.###} (asked {c:0.###})");
        if (Pids is { } p && granted.Pids != p) differences.Add($"pids {granted.Pids} (asked {p})");
        if (DiskMiB is { } d && granted.DiskMib != d) differences.Add($"disk {granted.DiskMib} MiB (asked {d})");
        if (TimeoutS is { } t && granted.Timeout is { } g && g.Seconds != t) differences.Add($"timeout {g.Seconds} s (asked {t})");
        if (OutputBytes is { } o && granted.OutputBytes != o) differences.Add($"output limit {granted.OutputBytes} bytes (asked {o})");
        return differences;
    }

    /// <summary>--network must be none or egress, and none takes no --allow or -p (refused, never ignored).</summary>
    public static void CheckNetwork(string? network, IReadOnlyList<string> allow, IReadOnlyList<string> publish)
    {
        if (network is not (null or "none" or "egress"))
            throw new UsageException($"--network '{network}' must be none or egress");
        if (network == "none" && (allow.Count > 0 || publish.Count > 0))
            throw new UsageException("--allow and -p need --network egress (or no --network at all)");
        if (network == "egress" && allow.Count == 0 && publish.Count == 0)
            throw new UsageException("--network egress needs at least one --allow HOST[:PORT]|CIDR[:PORT] or -p HOSTPORT:PORT");
    }

    public static SandboxTier? ParseTier(string? tier) => tier switch
    {
        null or "auto" => null,
        "container" => SandboxTier.Container,
        "microvm" => SandboxTier.MicroVm,
        _ => throw new UsageException($"--tier '{tier}' must be auto, container or microvm"),
    };
}
