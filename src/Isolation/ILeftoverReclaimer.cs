namespace Sandbox.Isolation;

/// <summary>A driver that can find and remove what sandboxes of a dead owner left on the host (their cgroups, and
/// everything still running in them). A restarted daemon calls it for sandboxes it does not take back.</summary>
public interface ILeftoverReclaimer
{
    /// <summary>Ids of sandboxes with host state under this driver's cgroup parent.</summary>
    IReadOnlyList<SandboxId> ListLeftovers();

    /// <summary>Kills what is left of a sandbox nothing in this process uses and removes it; false when nothing was left.</summary>
    Task<bool> ReclaimAsync(SandboxId id, CancellationToken cancellationToken);

    /// <summary>Removes the driver's host files (agent sockets, VM state directories) of sandboxes not in
    /// <paramref name="keep"/>: what a killed owner left of sandboxes that are gone. Returns how many were removed.</summary>
    int RemoveStaleFiles(IReadOnlySet<SandboxId> keep);
}
