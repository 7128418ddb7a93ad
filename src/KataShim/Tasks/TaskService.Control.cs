using System.Text.Json;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Sandbox.Isolation;
using Sandbox.KataShim.Oci;
using Sandbox.KataShim.Protocol.Cgroups;
using Sandbox.KataShim.Protocol.Events;
using Sandbox.KataShim.Protocol.Task;
using Sandbox.Ttrpc;

namespace Sandbox.KataShim.Tasks;

internal sealed partial class TaskService
{
    private const string LinuxResourcesType = "types.containerd.io/opencontainers/runtime-spec/1/LinuxResources";

    private async Task<Empty> PauseAsync(PauseRequest request, TtrpcCallContext ctx)
    {
        var container = Get(request.Id);
        await core.Sandboxes.PauseAsync(principal, container.SandboxId, ctx.CancellationToken).ConfigureAwait(false);
        Publish("/tasks/paused", new TaskPaused { ContainerId = container.Id });
        return new Empty();
    }

    private async Task<Empty> ResumeAsync(ResumeRequest request, TtrpcCallContext ctx)
    {
        var container = Get(request.Id);
        await core.Sandboxes.ResumeAsync(principal, container.SandboxId, ctx.CancellationToken).ConfigureAwait(false);
        Publish("/tasks/resumed", new TaskResumed { ContainerId = container.Id });
        return new Empty();
    }

    /// <summary>The sandbox's real counters in containerd's cgroup v1 metrics type (what `ctr task metrics` and CRI
    /// decode). NOT_FOUND when the sandbox is gone: containerd then skips the task silently.</summary>
    private async Task<StatsResponse> StatsAsync(StatsRequest request, TtrpcCallContext ctx)
    {
        var container = Get(request.Id);
        var stats = await core.Sandboxes.GetStatsAsync(principal, container.SandboxId, ctx.CancellationToken).ConfigureAwait(false);
        var limits = core.Sandboxes.Get(principal, container.SandboxId).Info?.Limits;
        var metrics = new Metrics
        {
            Pids = new PidsStat { Current = (ulong)Math.Max(0, stats.Tasks), Limit = (ulong)(limits?.PidsMax ?? 0) },
            Cpu = new CPUStat { Usage = new CPUUsage { Total = (ulong)(stats.CpuTime.Ticks * 100) } },
            Memory = new MemoryStat
            {
                Usage = new MemoryEntry
                {
                    Usage = (ulong)Math.Max(0, stats.MemoryBytes),
                    Max = (ulong)Math.Max(0, stats.MemoryPeakBytes),
                    Limit = (ulong)((limits?.MemoryMiB ?? 0) << 20),
                },
            },
            MemoryOomControl = new MemoryOomControl { OomKill = (ulong)Math.Max(0, stats.OomKills) },
        };
        return new StatsResponse { Stats = new Any { TypeUrl = Events.TypeUrls.Metrics, Value = metrics.ToByteString() } };
    }

    /// <summary>CRI's UpdateContainerResources: memory, CPU quota and pids, within what the policy granted (Core
    /// refuses more, naming the limit).</summary>
    private async Task<Empty> UpdateAsync(UpdateTaskRequest request, TtrpcCallContext ctx)
    {
        var container = Get(request.Id);
        if (request.Resources is null)
            return new Empty();
        if (request.Resources.TypeUrl != LinuxResourcesType)
            throw new SandboxException(SandboxErrorCode.InvalidArgument, $"resources of type '{request.Resources.TypeUrl}' are not {LinuxResourcesType}");
        OciResources? resources;
        try
        {
            resources = JsonSerializer.Deserialize(request.Resources.Value.Span, OciJson.Default.OciResources);
        }
        catch (JsonException e)
        {
            throw new SandboxException(SandboxErrorCode.InvalidArgument, $"resources: {e.Message}");
        }
        var errors = new List<string>();
        var wanted = BundleTranslator.CheckResources(resources, "resources", errors);
        if (errors.Count > 0)
            throw new SandboxException(SandboxErrorCode.InvalidArgument, string.Join("; ", errors));
        var current = core.Sandboxes.Get(principal, container.SandboxId).Info?.Limits
            ?? throw new SandboxException(SandboxErrorCode.FailedPrecondition, $"container {container.Id} is not running");
        var limits = current with
        {
            MemoryMiB = wanted.MemoryMiB ?? current.MemoryMiB,
            Cpus = wanted.Vcpus ?? current.Cpus,
            PidsMax = wanted.Pids ?? current.PidsMax,
        };
        await core.Sandboxes.UpdateLimitsAsync(principal, container.SandboxId, limits, ctx.CancellationToken).ConfigureAwait(false);
        return new Empty();
    }
}
