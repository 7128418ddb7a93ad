using Microsoft.Extensions.Logging;

namespace Sandbox.KataShim;

/// <summary>The shim's log lines (to containerd's log through the bundle's `log` FIFO).</summary>
internal static partial class ShimLog
{
    [LoggerMessage(EventId = 1, Level = LogLevel.Information, Message = "shim serving {Socket} for namespace {Namespace} (pid {Pid})")]
    public static partial void Serving(ILogger logger, string socket, string @namespace, int pid);

    [LoggerMessage(EventId = 2, Level = LogLevel.Information,
        Message = "container {ContainerId}: tier {Tier} chosen by the policy (decision {DecisionId}, hint {Hint}, sandbox {SandboxId})")]
    public static partial void TierChosen(ILogger logger, string containerId, string tier, string decisionId, string hint, string sandboxId);

    [LoggerMessage(EventId = 3, Level = LogLevel.Warning, Message = "event {Topic} dropped after {Attempts} attempts: {Reason}")]
    public static partial void EventDropped(ILogger logger, string topic, int attempts, string reason);

    [LoggerMessage(EventId = 4, Level = LogLevel.Warning, Message = "container {ContainerId}: {Rpc} failed: {Reason}")]
    public static partial void RpcFailed(ILogger logger, string containerId, string rpc, string reason);

    [LoggerMessage(EventId = 5, Level = LogLevel.Information, Message = "container {ContainerId}: process {ExecId} exited with {ExitStatus}")]
    public static partial void Exited(ILogger logger, string containerId, string execId, int exitStatus);

    [LoggerMessage(EventId = 6, Level = LogLevel.Information, Message = "shim exits: {Reason}")]
    public static partial void Exiting(ILogger logger, string reason);

    [LoggerMessage(EventId = 7, Level = LogLevel.Warning, Message = "container {ContainerId}: cleanup of {What} failed: {Reason}")]
    public static partial void CleanupFailed(ILogger logger, string containerId, string what, string reason);

    [LoggerMessage(EventId = 8, Level = LogLevel.Information, Message = "container {ContainerId}: process.user {Uid}:{Gid} runs as the sandbox's unprivileged user")]
    public static partial void UserMapped(ILogger logger, string containerId, uint uid, uint gid);

    [LoggerMessage(EventId = 9, Level = LogLevel.Information, Message = "container {ContainerId}: {Note}")]
    public static partial void Accepted(ILogger logger, string containerId, string note);

    [LoggerMessage(EventId = 10, Level = LogLevel.Information, Message = "container {ContainerId}: CRI's pod files ({Files}) left out on the {Tier} tier (the guest has its own network configuration)")]
    public static partial void PodFilesLeftOut(ILogger logger, string containerId, string files, string tier);

    [LoggerMessage(EventId = 12, Level = LogLevel.Information,
        Message = "container {ContainerId}: this container of pod {PodId} runs in a microVM of its own (sandbox {SandboxId}): the pod's microVM could not take it (Core's log says why)")]
    public static partial void OwnVmInPod(ILogger logger, string containerId, string podId, string sandboxId);

    [LoggerMessage(EventId = 14, Level = LogLevel.Information,
        Message = "container {ContainerId}: runs in the microVM of pod {PodId} (a container in pod sandbox {PodSandboxId}'s guest)")]
    public static partial void InPodVm(ILogger logger, string containerId, string podId, string podSandboxId);

    [LoggerMessage(EventId = 11, Level = LogLevel.Information, Message = "container {ContainerId}: labels of CRI pod {PodId} for the policy: {Labels}")]
    public static partial void PodLabels(ILogger logger, string containerId, string podId, string labels);

    [LoggerMessage(EventId = 13, Level = LogLevel.Debug, Message = "heap trimmed, quiet since {Burst}: {HeapKiB} KiB in the GC heap, {CommittedKiB} KiB committed")]
    public static partial void HeapTrimmed(ILogger logger, string burst, long heapKiB, long committedKiB);
}
