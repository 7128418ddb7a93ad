namespace Sandbox.Policy;

/// <summary>Isolation tiers a decision may name.</summary>
public static class IsolationTiers
{
    public const string Container = "container";
    public const string MicroVm = "microvm";
}

/// <summary>Network modes a decision may name.</summary>
public static class NetworkModes
{
    public const string None = "none";
    public const string Loopback = "loopback";
    public const string Egress = "egress";
    /// <summary>Join the network namespace an orchestrator made for the workload (a CRI pod's, set up by CNI), named by
    /// the request's path: the sandbox gets that network as it is, and none of its own.</summary>
    public const string Netns = "netns";
}

/// <summary>The typed, validated and clamped outcome of a policy evaluation. A deny is a decision, not an exception.</summary>
public sealed record PolicyDecision
{
    public required bool Allow { get; init; }
    /// <summary>"container" or "microvm".</summary>
    public required string Isolation { get; init; }
    public required ResourceLimits Resources { get; init; }
    public required NetworkPolicy Network { get; init; }
    public required SyscallProfileRef SyscallProfile { get; init; }
    public required IReadOnlyList<string> Reasons { get; init; }
    public required string DecisionId { get; init; }
    public string? BundleRevision { get; init; }
    /// <summary>True when the microVM tier must not fall back to TCG (software emulation).</summary>
    public bool RequireHardwareVirtualization { get; init; }
}

/// <summary>Limits for one sandbox, in the units their names say.</summary>
public sealed record ResourceLimits(long MemoryMiB, int Vcpus, int Pids, long DiskMiB, int TimeoutSeconds)
{
    public static ResourceLimits None { get; } = new(0, 0, 0, 0, 0);
}

/// <summary>Network mode ("none", "loopback", "egress", "netns"), the allowed egress entries ("HOST[:PORT]",
/// "IPV4[/PREFIX][:PORT]") and the published ports ("HOSTPORT:PORT" on the host's loopback).</summary>
public sealed record NetworkPolicy(string Mode, IReadOnlyList<string> Egress)
{
    public static NetworkPolicy Disabled { get; } = new(NetworkModes.None, []);

    /// <summary>Ports of the sandbox published on the host's 127.0.0.1, "HOSTPORT:PORT"; mode egress only.</summary>
    public IReadOnlyList<string> Publish { get; init; } = [];

    /// <summary>Mode netns only: the path of the orchestrator's network namespace the sandbox joins (the request's own;
    /// the engine refuses a decision naming another).</summary>
    public string? Netns { get; init; }
}

/// <summary>A named seccomp profile plus extra allowed syscalls.</summary>
public sealed record SyscallProfileRef(string Name, IReadOnlyList<string> Add);

/// <summary>Host ceilings from configuration: a policy can lower limits, never raise them past these.</summary>
public sealed class HostCeilings
{
    /// <summary>Memory per sandbox, MiB. Default 16384.</summary>
    public long MemoryMiB { get; init; } = 16384;
    /// <summary>vCPUs per sandbox. Default 16.</summary>
    public int Vcpus { get; init; } = 16;
    /// <summary>Processes per sandbox. Default 32768.</summary>
    public int Pids { get; init; } = 32768;
    /// <summary>Writable disk per sandbox, MiB. Default 102400.</summary>
    public long DiskMiB { get; init; } = 102400;
    /// <summary>Wall-clock limit per sandbox, seconds. Default 86400.</summary>
    public int TimeoutSeconds { get; init; } = 86400;
    /// <summary>Most egress hosts one decision may allow. Default 64.</summary>
    public int MaxEgressHosts { get; init; } = 64;
}

/// <summary>Decides how (and whether) a sandbox is created.</summary>
public interface IPolicyEngine
{
    Task<PolicyDecision> DecideAsync(PolicyInput input, CancellationToken ct);
}
