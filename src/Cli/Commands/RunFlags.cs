using Sandbox.Api.V1;
using Sandbox.Core;
using SandboxTier = Sandbox.Isolation.SandboxTier;

namespace Sandbox.Cli.Commands;

/// <summary>What the user asked for on `sandbox run`, parsed once; only what was given is sent (the policy fills the
/// rest). The same request goes to sandboxd (<see cref="ToProto"/>) or to the in-process Core (<see cref="ToCore"/>).</summary>
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
    public string? WorkDir { get; init; }
    public IReadOnlyDictionary<string, string> Env { get; init; } = new Dictionary<string, string>();
    public string? Tier { get; init; }
    /// <summary>The user vouches for the code (--trusted); otherwise it is untrusted code of unknown provenance.</summary>
    public bool Trusted { get; init; }

    /// <summary>Whole seconds for the policy; the process itself gets the exact duration.</summary>
    private int? TimeoutS => Timeout is { } t ? (int)Math.Ceiling(t.TotalSeconds) : null;

    public CreateSandboxRequest ToProto()
    {
        var request = new CreateSandboxRequest
        {
            Tier = ParseTier(Tier) switch { SandboxTier.Container => Api.V1.Tier.Container, SandboxTier.MicroVm => Api.V1.Tier.Microvm, _ => Api.V1.Tier.Unspecified },
            Rootfs = Rootfs ?? "",
            Workdir = WorkDir ?? "",
            SyscallProfile = Profile ?? "",
            Resources = new Resources
            {
                MemoryMib = MemoryMiB ?? 0,
                Pids = Pids ?? 0,
                Vcpus = Cpus ?? 0,
                Timeout = Timeout is { } t ? Google.Protobuf.WellKnownTypes.Duration.FromTimeSpan(t) : null,
                DiskMib = DiskMiB ?? 0,
                OutputBytes = OutputBytes ?? 0,
            },
        };
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
        WorkDir = WorkDir,
        SyscallProfile = Profile,
        Resources = new RequestedLimits(MemoryMiB, Cpus, Pids, DiskMiB, TimeoutS, OutputBytes),
        Env = Env,
        Untrusted = Trusted ? false : null,
        CodeProvenance = Trusted ? "tenant" : null,
    };

    public static SandboxTier? ParseTier(string? tier) => tier switch
    {
        null or "auto" => null,
        "container" => SandboxTier.Container,
        "microvm" => SandboxTier.MicroVm,
        _ => throw new FormatException($"--tier '{tier}' must be auto, container or microvm"),
    };
}
