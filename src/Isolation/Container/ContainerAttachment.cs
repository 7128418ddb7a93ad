using System.Text.Json.Serialization;

namespace Sandbox.Isolation.Container;

/// <summary>The container tier's attachment payload (<see cref="SandboxAttachment.Payload"/>, version
/// <see cref="Version"/>): what a host must keep to find a long-lived container again after it was restarted. The
/// container was created with <see cref="SandboxSpec.DieWithOwner"/> = false, so bwrap and the agent outlived the
/// process that created it. <see cref="BubblewrapDriver.AttachAsync"/> takes it back.</summary>
internal sealed record ContainerAttachment
{
    /// <summary>The payload format. Bump it when a field changes meaning or a required one is added.</summary>
    public const int Version = 2;

    public SandboxAttachment ToAttachment() =>
        AttachmentCodec.Wrap(SandboxTier.Container, Version, this, ContainerAttachmentJson.Default.ContainerAttachment);

    public static ContainerAttachment From(SandboxId id, SandboxAttachment attachment) =>
        AttachmentCodec.Unwrap(id, attachment, SandboxTier.Container, Version, ContainerAttachmentJson.Default.ContainerAttachment);

    /// <summary>bwrap's host pid (it lives in the sandbox's cgroup).</summary>
    public required int BwrapPid { get; init; }

    /// <summary>bwrap's start time, clock ticks after boot (/proc/PID/stat field 22): a recycled pid has another.</summary>
    public required ulong BwrapStartTime { get; init; }

    /// <summary>Host pid of the sandbox's init (bwrap's reaper inside the pid namespace).</summary>
    public required int InitPid { get; init; }

    /// <summary>First host id of the sandbox's uid range (inside 0).</summary>
    public required int UidRangeBase { get; init; }

    /// <summary>Who the sandbox's processes run as inside.</summary>
    public required SandboxUser User { get; init; }

    /// <summary>Host path of the unix socket the agent accepts connections on (root-only directory, not visible inside).</summary>
    public required string AgentSocket { get; init; }

    public required ResourceLimits Limits { get; init; }
    public required IReadOnlyDictionary<string, string> Env { get; init; }
    public required string WorkDir { get; init; }
    public required string Hostname { get; init; }
    public required string SyscallProfile { get; init; }
    public required string SeccompDigest { get; init; }
    public string? CgroupPath { get; init; }
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
    UnmappedMemberHandling = System.Text.Json.Serialization.JsonUnmappedMemberHandling.Disallow)]
[JsonSerializable(typeof(ContainerAttachment))]
internal sealed partial class ContainerAttachmentJson : JsonSerializerContext;
