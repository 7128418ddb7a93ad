using System.Text.Json.Serialization;

namespace Sandbox.Isolation.MicroVm;

/// <summary>The microVM tier's attachment payload (<see cref="SandboxAttachment.Payload"/>, version
/// <see cref="Version"/>): what a restarted owner needs to take a VM back. QEMU outlives its owner (its own session
/// and cgroup); its QMP and agent sockets live in the VM's state directory and reconnect to whoever binds them.</summary>
internal sealed record MicroVmAttachment
{
    /// <summary>The payload format. Bump it when a field changes meaning or a required one is added.</summary>
    public const int Version = 1;

    /// <summary>QEMU's host pid.</summary>
    public required int QemuPid { get; init; }

    /// <summary>QEMU's start time, clock ticks after boot (/proc/PID/stat field 22): a recycled pid has another.</summary>
    public required ulong QemuStartTime { get; init; }

    /// <summary>The VM's state directory (its sockets); only ever the one the driver would make for the id.</summary>
    public required string StateDirectory { get; init; }

    public required Accelerator Accelerator { get; init; }
    public required string GuestKernel { get; init; }
    public string? Template { get; init; }
    public required ResourceLimits Limits { get; init; }
    public required IReadOnlyDictionary<string, string> Env { get; init; }
    public required string WorkDir { get; init; }
    public required string Hostname { get; init; }

    /// <summary>The seccomp profile the guest applies to workload processes, and its program's digest (absent in
    /// records of VMs started before the guest applied one).</summary>
    public string? SyscallProfile { get; init; }
    public string? SeccompDigest { get; init; }

    /// <summary>The unprivileged host uid QEMU runs as in its jail; absent for a VM whose QEMU ran as root.</summary>
    public int? HostUid { get; init; }

    public SandboxAttachment ToAttachment() =>
        AttachmentCodec.Wrap(SandboxTier.MicroVm, Version, this, MicroVmAttachmentJson.Default.MicroVmAttachment);

    public static MicroVmAttachment From(SandboxId id, SandboxAttachment attachment) =>
        AttachmentCodec.Unwrap(id, attachment, SandboxTier.MicroVm, Version, MicroVmAttachmentJson.Default.MicroVmAttachment);
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
    UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow, UseStringEnumConverter = true)]
[JsonSerializable(typeof(MicroVmAttachment))]
internal sealed partial class MicroVmAttachmentJson : JsonSerializerContext;
