using Microsoft.Extensions.Logging;

namespace Sandbox.Core;

internal static partial class CoreLog
{
    [LoggerMessage(1013, LogLevel.Information, "Sandbox {SandboxId} of tenant {Tenant} is a container in the microVM of pod sandbox {PodId}")]
    public static partial void JoinsPod(ILogger logger, string sandboxId, string tenant, string podId);

    [LoggerMessage(1014, LogLevel.Information, "Sandbox {SandboxId} of tenant {Tenant} does not join pod sandbox {PodId} ({Reason}): it gets a sandbox of its own")]
    public static partial void OwnSandboxInPod(ILogger logger, string sandboxId, string tenant, string podId, string reason);

    [LoggerMessage(1001, LogLevel.Information, "Sandbox {SandboxId} created for tenant {Tenant}: tier {Tier}, decision {DecisionId}, {ElapsedMs:0.0} ms")]
    public static partial void Created(ILogger logger, string sandboxId, string tenant, string tier, string decisionId, double elapsedMs);

    [LoggerMessage(1002, LogLevel.Information, "Sandbox {SandboxId} of tenant {Tenant} removed: {Reason}")]
    public static partial void Removed(ILogger logger, string sandboxId, string tenant, string reason);

    [LoggerMessage(1003, LogLevel.Information, "Policy denied a sandbox for tenant {Tenant}: decision {DecisionId}, {ReasonCount} reason(s)")]
    public static partial void Denied(ILogger logger, string tenant, string decisionId, int reasonCount);

    [LoggerMessage(1004, LogLevel.Warning, "Sandbox {SandboxId} of tenant {Tenant} did not survive the restart of its owner; cleaned up (cgroup found: {CgroupFound}): {Why}")]
    public static partial void LostAtRestart(ILogger logger, string sandboxId, string tenant, bool cgroupFound, string why);

    [LoggerMessage(1009, LogLevel.Information, "Sandbox {SandboxId} of tenant {Tenant} re-attached after the restart of its owner ({Tier} tier)")]
    public static partial void Reattached(ILogger logger, string sandboxId, string tenant, string tier);

    [LoggerMessage(1012, LogLevel.Information, "Stopping for a restart: {Count} sandbox(es) left running for the next owner to re-attach")]
    public static partial void LeftForRestart(ILogger logger, int count);

    [LoggerMessage(1005, LogLevel.Warning, "Unreadable state file {File} removed: {Error}")]
    public static partial void BadStateFile(ILogger logger, string file, string error);

    [LoggerMessage(1006, LogLevel.Warning, "Leftover cgroup of sandbox {SandboxId} (no state record) killed and removed")]
    public static partial void OrphanReclaimed(ILogger logger, string sandboxId);

    [LoggerMessage(1007, LogLevel.Information, "TTL reaper removed {Count} expired sandbox(es)")]
    public static partial void Reaped(ILogger logger, int count);

    [LoggerMessage(1008, LogLevel.Error, "TTL reaper failed")]
    public static partial void ReaperFailed(ILogger logger, Exception exception);

    [LoggerMessage(1010, LogLevel.Warning, "Probe of the {Tier} tier failed; the tier is unavailable: {Error}")]
    public static partial void ProbeFailed(ILogger logger, string tier, string error);

    [LoggerMessage(1011, LogLevel.Warning, "Sandbox {SandboxId} of tenant {Tenant}: tearing down after a failed launch also failed")]
    public static partial void RollbackFailed(ILogger logger, string sandboxId, string tenant, Exception exception);
}
