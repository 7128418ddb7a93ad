using Sandbox.Isolation;

namespace Sandbox.Core;

public sealed partial class SandboxService
{
    /// <summary>Every process of the workload in a running or paused sandbox (not the engine's agent), those an exec
    /// left running included, by their pids as the sandbox sees them. Unimplemented where the driver cannot tell.</summary>
    public Task<IReadOnlyList<int>> ListWorkloadProcessesAsync(Principal principal, SandboxId id, CancellationToken cancellationToken) =>
        registry.Get(principal.Tenant, id).Require(SandboxLifecycle.CanUpdate, "list the processes of").ListWorkloadProcessesAsync(cancellationToken);

    /// <summary>Signals every process of the workload (<see cref="ListWorkloadProcessesAsync"/>); the sandbox stays.</summary>
    public Task SignalWorkloadAsync(Principal principal, SandboxId id, int signal, CancellationToken cancellationToken) =>
        registry.Get(principal.Tenant, id).Require(SandboxLifecycle.CanUpdate, "signal the processes of").SignalWorkloadAsync(signal, cancellationToken);
}
