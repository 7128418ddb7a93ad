namespace Sandbox.Isolation;

/// <summary>What a driver's sandboxes can do beyond create, exec, files and dispose. A face checks a flag before it
/// offers the operation; a sandbox asked for one its driver lacks fails with <see cref="SandboxErrorCode.Unimplemented"/>.</summary>
[Flags]
public enum DriverCapabilities
{
    None = 0,

    /// <summary>Sandboxes created with <see cref="SandboxSpec.DieWithOwner"/> = false can be taken back after the
    /// owner restarts (<see cref="ISandboxDriver.AttachAsync"/>).</summary>
    Attach = 1 << 0,

    /// <summary>The whole sandbox can be frozen and thawed.</summary>
    Pause = 1 << 1,

    /// <summary>Resource limits of a running sandbox can be changed.</summary>
    UpdateLimits = 1 << 2,

    /// <summary>A signal can be sent to every process of the sandbox at once.</summary>
    Signal = 1 << 3,

    /// <summary>Processes can run on a pseudo-terminal (with resize).</summary>
    Tty = 1 << 4,

    /// <summary><see cref="ISandbox.GetStatsAsync"/> reports the sandbox's own cgroup (for a microVM: its QEMU's).</summary>
    CgroupStats = 1 << 5,

    /// <summary><see cref="ISandbox"/> reports the sandbox's death (its supervisor process exited, the agent vanished).</summary>
    ExitNotification = 1 << 6,

    /// <summary>A sandbox can join another's network namespace (<see cref="SandboxSpec.NetworkOf"/>) and name its
    /// loopback (<see cref="SandboxSpec.LoopbackNames"/>): a face asks for either only from a driver with this flag.</summary>
    SharedNetwork = 1 << 7,

    /// <summary>A sandbox can be given an orchestrator's network namespace (a CNI pod's, <see cref="Network.NetworkNamespaceFile"/>
    /// as <see cref="SandboxSpec.NetworkOf"/>): the container tier joins it, the microVM tier takes its interface over
    /// through a tap (<see cref="Network.PodNetworkTap"/>).</summary>
    OrchestratorNetwork = 1 << 8,
}
