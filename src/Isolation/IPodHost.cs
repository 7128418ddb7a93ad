namespace Sandbox.Isolation;

/// <summary>A sandbox that hosts a pod (created with <see cref="SandboxSpec.HostsPod"/>): later sandboxes of the pod
/// are containers inside it rather than sandboxes of their own — on the microVM tier, containers in the one guest
/// (Kata's one VM per pod), each with its own root, mount, pid, UTS and IPC namespaces, cgroup, user and seccomp
/// program; the VM stays the boundary between pods. The caller (Core) decides when a sandbox joins one.</summary>
public interface IPodHost
{
    /// <summary>Whether this sandbox was created to host a pod and is still up.</summary>
    bool CanHostContainers { get; }

    /// <summary>A container of <paramref name="spec"/> in this sandbox: its root, limits, user and syscall profile are
    /// the spec's; what it cannot have inside the host (a network other than the host's) is refused naming it. Its
    /// <see cref="SandboxInfo.PodHost"/> names this sandbox. It ends when disposed or when this sandbox ends.</summary>
    Task<ISandbox> AddContainerAsync(SandboxSpec spec, CancellationToken cancellationToken);
}
