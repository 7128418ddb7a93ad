using Sandbox.Isolation;
using Sandbox.Isolation.Network;
using Sandbox.Policy;
using EngineLimits = Sandbox.Isolation.ResourceLimits;

namespace Sandbox.Core;

/// <summary>An allowed decision → what the driver gets, in one place. Every field of the decision lands in the spec:
/// tier, limits, network, syscall profile and its additions, and require_hardware_virtualization (the microVM driver
/// refuses TCG with FailedPrecondition when it is set). The request contributes only what the policy does not decide
/// (rootfs, env, work dir, hostname, output cap) and may lower the CPU quota.</summary>
public static class DecisionTranslator
{
    /// <param name="image">The request's image, resolved in the store: its root becomes the rootfs (read-only lower
    /// layer under a writable upper capped at the disk size), its config's Env comes under the request's, and its
    /// config's User is the sandbox's user when the request names none (<see cref="Isolation.Images.ImageUser"/>).</param>
    public static (SandboxTier Tier, SandboxSpec Spec) ToSpec(PolicyDecision decision, SandboxRequest request, Isolation.Images.ResolvedImage? image = null)
    {
        if (!decision.Allow)
            throw new PolicyDeniedException(decision);
        if (image is not null && request.Rootfs is not null)
            throw new SandboxException(SandboxErrorCode.InvalidArgument, $"a request names either an image ('{request.Image}') or a rootfs ('{request.Rootfs}'), not both");
        var tier = TierNames.FromPolicy(decision.Isolation);
        var r = decision.Resources;
        var limits = new EngineLimits
        {
            MemoryMiB = r.MemoryMiB,
            Cpus = request.Resources.Vcpus is > 0 and var wanted ? Math.Min(wanted, r.Vcpus) : r.Vcpus,
            CpuQuotaRequired = request.Resources.Vcpus is > 0,
            PidsMax = r.Pids,
            DiskMiB = r.DiskMiB,
            WallTime = TimeSpan.FromSeconds(r.TimeoutSeconds),
            OutputBytes = request.Resources.OutputBytes ?? EngineLimits.Default.OutputBytes,
        };
        var spec = new SandboxSpec
        {
            Rootfs = image is not null ? RootfsSpec.Image(image.RootfsDirectory, image.RootfsKey)
                : request.Rootfs is null ? RootfsSpec.Host : RootfsSpec.Directory(request.Rootfs),
            Limits = limits,
            Network = ToNetwork(decision.Network),
            EgressAllow = decision.Network.Mode == NetworkModes.Egress ? [.. decision.Network.Egress.Select(EgressRule.Parse)] : [],
            PublishedPorts = decision.Network.Mode == NetworkModes.Egress ? [.. decision.Network.Publish.Select(PublishedPort.Parse)] : [],
            Env = image is null ? request.Env : Merge(image.Record.Defaults.EnvMap(), request.Env),
            SyscallProfile = decision.SyscallProfile.Name,
            ExtraSyscalls = decision.SyscallProfile.Add,
            NarrowingSyscallProfile = request.NarrowingSyscallProfile,
            WorkDir = request.WorkDir ?? "/work",
            Hostname = request.Hostname ?? new SandboxSpec().Hostname,
            User = request.User is { } user ? SandboxUser.Parse(user)
                : image?.Record.Defaults.User is { } imageUser ? Isolation.Images.ImageUser.Resolve(imageUser, image.RootfsDirectory) : null,
            LoopbackNames = request.LoopbackNames,
            HostMounts = request.HostMounts,
            ScratchMounts = [.. request.ScratchMounts.Select(m => m.Sized(limits.DiskMiB))],
            RequireHardwareVirtualization = decision.RequireHardwareVirtualization,
        };
        return (tier, spec);
    }

    /// <summary>"none" and "loopback" are the same here: every sandbox has its own network namespace with only
    /// loopback. "netns" is no network of the engine's own: the sandbox joins the orchestrator's namespace
    /// (<see cref="SandboxService"/> checks the grant and opens it as <see cref="SandboxSpec.NetworkOf"/>). Egress carries the granted entries and published ports, parsed here (a bad one is InvalidArgument
    /// naming it); a tier that does not offer egress refuses it, never drops it silently.</summary>
    private static NetworkMode ToNetwork(NetworkPolicy network) => network.Mode switch
    {
        NetworkModes.None or NetworkModes.Loopback or NetworkModes.Netns => NetworkMode.None,
        NetworkModes.Egress => NetworkMode.Egress,
        _ => throw new SandboxException(SandboxErrorCode.Internal, $"the policy chose an unknown network mode '{network.Mode}'"),
    };

    private static Dictionary<string, string> Merge(Dictionary<string, string> under, IReadOnlyDictionary<string, string> over)
    {
        foreach (var (k, v) in over)
            under[k] = v;
        return under;
    }

    /// <summary>An image's config for a process run in it: Entrypoint + (the given argv, or Cmd when none), as OCI
    /// runtimes do; WorkingDir as the working directory unless the process names one. The config's User is the
    /// sandbox's (<see cref="ToSpec"/>: the request's user, else the image's, else the sandbox's unprivileged default).</summary>
    public static ProcessSpec ApplyImageDefaults(ProcessSpec process, Isolation.Images.ImageDefaults defaults)
    {
        var argv = defaults.Command(process.Argv);
        if (argv.Count == 0)
            throw new SandboxException(SandboxErrorCode.InvalidArgument, "no command given and the image's config has no Entrypoint or Cmd");
        return process with { Argv = argv, WorkingDirectory = process.WorkingDirectory ?? defaults.WorkingDir };
    }

    /// <summary>A process may ask for less time than the policy granted, never more.</summary>
    public static ProcessSpec ClampTimeout(ProcessSpec process, EngineLimits limits) =>
        process.Timeout is { } t && limits.WallTime is { } max && t > max ? process with { Timeout = max } : process;
}
