using Sandbox.Isolation;

namespace Sandbox.Core;

public sealed partial class SandboxService
{
    /// <summary>The sandbox's resource usage now (cgroup counters on the container tier).</summary>
    public Task<SandboxStats> GetStatsAsync(Principal principal, SandboxId id, CancellationToken cancellationToken) =>
        registry.Get(principal.Tenant, id).Require(s => s is SandboxState.Running or SandboxState.Paused, "read the stats of")
            .GetStatsAsync(cancellationToken);
}
