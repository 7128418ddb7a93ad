using Google.Protobuf.WellKnownTypes;
using Sandbox.Core;
using Sandbox.Isolation;
using Sandbox.KataShim.Io;
using Sandbox.KataShim.Mapping;
using Sandbox.KataShim.Oci;
using Sandbox.KataShim.Protocol.Events;
using Sandbox.KataShim.Protocol.RuntimeOptions;
using Sandbox.KataShim.Protocol.Task;
using Sandbox.KataShim.Rootfs;
using Sandbox.Ttrpc;

namespace Sandbox.KataShim.Tasks;

internal sealed partial class TaskService
{
    private readonly HashSet<string> _creating = new(StringComparer.Ordinal);

    /// <summary>Bundle → Core request (policy, tier, spec) → a running sandbox with the init process prepared, not
    /// started. Anything taken is given back when a later step fails.</summary>
    private async Task<CreateTaskResponse> CreateAsync(CreateTaskRequest request, TtrpcCallContext ctx)
    {
        var id = request.Id;
        if (!string.IsNullOrEmpty(request.Checkpoint) || !string.IsNullOrEmpty(request.ParentCheckpoint))
            throw new TtrpcException(StatusCode.Unimplemented, "restoring from a checkpoint is not supported by the sandbox runtime");
        CheckOptions(request.Options);
        lock (_creating)
        {
            if (_containers.ContainsKey(id) || !_creating.Add(id))
                throw new TtrpcException(StatusCode.AlreadyExists, $"container {id} already exists");
        }
        string? mounted = null;
        TaskStdio? stdio = null;
        try
        {
            var spec = BundleTranslator.Read(request.Bundle);
            var plan = BundleTranslator.Translate(spec, request.Bundle, PodSandboxPid(spec, id), PodSandboxContainer(spec, id)?.NetworkNamespace);
            plan = plan with { PodLabels = await PodLabelsAsync(plan, id, ctx.CancellationToken).ConfigureAwait(false) };
            foreach (var note in plan.Notes)
                ShimLog.Accepted(logger, id, note);
            if (plan.Init.Tty is not null != request.Terminal)
                throw new SandboxException(SandboxErrorCode.InvalidArgument,
                    $"terminal {request.Terminal} in the create request disagrees with process.terminal in config.json");
            var rootfs = plan.RootfsPath;
            if (request.Rootfs.Count > 0)
            {
                mounted = ShimPaths.RootfsFor(ns, id);
                ShimPaths.CreateTraversable(mounted);
                SnapshotMounts.MountAll(request.Rootfs, mounted);
                rootfs = mounted;
            }
            if (plan.Request.ScratchMounts.Count > 0)
                BindMounts.MakeMountPoints(plan.Request.ScratchMounts, mounted ?? rootfs, mayCreate: mounted is not null);
            if (plan.Binds.Count > 0)
            {
                var binds = await PrepareBindsAsync(plan, id, rootfs, mounted, ctx.CancellationToken).ConfigureAwait(false);
                if (binds.View is not null)
                    rootfs = mounted = binds.View;
                plan = binds.Plan;
            }
            stdio = await TaskStdio.OpenAsync(request.Stdin, request.Stdout, request.Stderr, request.Id, ns).ConfigureAwait(false);
            var entry = await core.Sandboxes.CreateAsync(principal, ShimRequest.For(plan, rootfs, ns, PodSandbox(spec, id)), ctx.CancellationToken).ConfigureAwait(false);
            if (plan.Binds.Count > 0 && entry.Tier != SandboxTier.Container)
            {
                // The policy changed its mind between the dry run and the create: these binds went into the root.
                await core.Sandboxes.DeleteAsync(principal, entry.Id).ConfigureAwait(false);
                throw new SandboxException(SandboxErrorCode.FailedPrecondition,
                    $"the policy chose {entry.Tier} at create after the container tier in its dry run; the binds were laid into the root for the container tier");
            }
            var paths = new StdioPaths(request.Stdin, request.Stdout, request.Stderr, request.Terminal);
            var container = new ShimContainer(id, request.Bundle, entry.Id, entry.Tier, new ShimProcess(id, "", plan.Init, stdio, paths), mounted, request.Rootfs)
            {
                NetworkNamespace = plan.Request.NetworkNamespace,
            };
            _containers[id] = container;
            TierReport.Write(ns, id, entry, plan.Request.Tier, logger);
            if (entry.Tier == SandboxTier.MicroVm && plan.Annotations.TryGetValue(ShimAnnotations.CriSandboxId, out var pod) && pod != id)
            {
                if (entry.Info?.PodHost is { } host)
                    ShimLog.InPodVm(logger, id, pod, host.Value);
                else
                    ShimLog.OwnVmInPod(logger, id, pod, entry.Id.Value);
            }
            Publish("/tasks/create", new TaskCreate
            {
                ContainerId = id,
                Bundle = request.Bundle,
                Rootfs = { request.Rootfs },
                Io = new TaskIO { Stdin = request.Stdin, Stdout = request.Stdout, Stderr = request.Stderr, Terminal = request.Terminal },
                Pid = 0,
            });
            Daemon.HeapTrim.AfterBurst(logger, "create");
            return new CreateTaskResponse { Pid = 0 };
        }
        catch
        {
            if (stdio is not null)
                await stdio.DisposeAsync().ConfigureAwait(false);
            if (mounted is not null)
                Cleanup(id, "rootfs mount", () => SnapshotMounts.UnmountAll(mounted));
            throw;
        }
        finally
        {
            lock (_creating)
                _creating.Remove(id);
        }
    }

    /// <summary>The bundle's bind mounts, placed as the tier needs them, so the policy is asked first (a dry run). On
    /// the container tier they go into the shim's view of the root: the snapshot mount, or a view of a `--rootfs DIR`
    /// (which is never written to). On the microVM tier the root becomes a disk image, which must not copy host files,
    /// so they go to Core as host mounts (9p shares through the VMM jail) and the plan returned has no binds (View is
    /// then null: nothing was mounted); CRI's pod files are left out there (<see cref="CriMounts"/>).</summary>
    private async Task<(string? View, ContainerPlan Plan)> PrepareBindsAsync(ContainerPlan plan, string id, string rootfs, string? mounted, CancellationToken cancellationToken)
    {
        var decision = await core.Sandboxes.ExplainAsync(principal, ShimRequest.For(plan, rootfs, ns), cancellationToken).ConfigureAwait(false);
        if (decision.Allow && decision.Isolation != Sandbox.Policy.IsolationTiers.Container)
        {
            if (plan.PodFiles.Count > 0)
                ShimLog.PodFilesLeftOut(logger, id, string.Join(", ", plan.PodFiles.Select(b => b.Destination)), decision.Isolation);
            var hostMounts = plan.Binds.Where(b => !plan.PodFiles.Contains(b)).Select(b => ToHostMount(b, decision.Isolation)).ToList();
            return (null, plan with { Binds = [], PodFiles = [], Request = plan.Request with { HostMounts = hostMounts } });
        }
        var view = mounted;
        if (view is null)
        {
            view = ShimPaths.RootfsFor(ns, id);
            ShimPaths.CreateTraversable(view);
            BindMounts.BindRoot(rootfs, view);
        }
        try
        {
            BindMounts.MakePrivate(view);
            BindMounts.MountAll(plan.Binds, view, mayCreate: mounted is not null);
        }
        catch when (mounted is null)
        {
            Cleanup(id, "rootfs view", () => SnapshotMounts.UnmountAll(view));
            throw;
        }
        return (view, plan);
    }

    /// <summary>The pause container of the CRI pod container <paramref name="id"/> belongs to, when this shim runs it
    /// (containers of one pod share the shim); null for the pause container itself and for other containers.</summary>
    private ShimContainer? PodSandboxContainer(OciSpec spec, string id) =>
        spec.Annotations is { } a && a.TryGetValue(ShimAnnotations.CriSandboxId, out var pod) && pod != id
        && _containers.TryGetValue(pod, out var sandbox)
            ? sandbox
            : null;

    /// <summary>The Core sandbox of the pod's pause container: Core decides whether the container goes into that
    /// sandbox's microVM.</summary>
    private string? PodSandbox(OciSpec spec, string id) => PodSandboxContainer(spec, id)?.SandboxId.Value;

    /// <summary>The pid reported for the pod's pause container: app containers name the pod's namespaces through it.</summary>
    private int? PodSandboxPid(OciSpec spec, string id) => PodSandboxContainer(spec, id) is { Init.Pid: > 0 } sandbox ? sandbox.Init.Pid : null;

    /// <summary>The CRI pod's labels for the policy, asked of containerd (they are in no bundle). When containerd cannot
    /// say, the policy sees none — labels only ever describe the workload, so their absence grants nothing — and the
    /// shim's log says why.</summary>
    private async Task<IReadOnlyDictionary<string, string>> PodLabelsAsync(ContainerPlan plan, string id, CancellationToken cancellationToken)
    {
        if (!plan.Annotations.TryGetValue(ShimAnnotations.CriSandboxId, out var pod) || pod.Length == 0)
            return new Dictionary<string, string>();
        try
        {
            var labels = await Cri.PodLabels.GetAsync(containerdAddress, ns, pod, cancellationToken).ConfigureAwait(false);
            ShimLog.PodLabels(logger, id, pod, string.Join(", ", labels.OrderBy(l => l.Key, StringComparer.Ordinal).Select(l => $"{l.Key}={l.Value}")));
            return labels;
        }
        catch (Exception e) when (e is HttpRequestException or InvalidOperationException or TaskCanceledException or Google.Protobuf.InvalidProtocolBufferException)
        {
            ShimLog.RpcFailed(logger, id, "containerd Containers/Get (the pod's labels)", e.Message);
            return new Dictionary<string, string>();
        }
    }

    /// <summary>A bind for a tier that takes host mounts (the microVM tier: a 9p share, submounts of the source
    /// included as with rbind); what it cannot honour is refused naming it.</summary>
    private static HostMount ToHostMount(Rootfs.BindMount bind, string tier) =>
        bind.NoExec
            ? throw new SandboxException(SandboxErrorCode.InvalidArgument,
                $"mounts[{bind.Index}] (bind {bind.Source} → {bind.Destination}): option noexec is not applied on the {tier} tier (drop it, or ask for io.sandbox.tier=container)")
            : new HostMount(bind.Source, bind.Destination, bind.ReadOnly);

    /// <summary>Runtime options: none, or CRI's runtimeoptions.v1.Options without a config path (the shim has nothing
    /// such a file could set, and reading one to ignore it would be a silent ignore); anything else (runc's options) is
    /// an error naming its type.</summary>
    private static void CheckOptions(Any? options)
    {
        if (options is null || options.TypeUrl.Length == 0)
            return;
        if (options.TypeUrl.EndsWith("runtimeoptions.v1.Options", StringComparison.Ordinal))
        {
            var parsed = Options.Parser.ParseFrom(options.Value);
            if (parsed.ConfigPath.Length > 0)
                throw new SandboxException(SandboxErrorCode.InvalidArgument,
                    $"runtime option config_path '{parsed.ConfigPath}' is not supported: the shim has no settings a file could give "
                    + "(its policy is the embedded bundle, its drivers' options are fixed); drop ConfigPath from the runtime's options");
            return;
        }
        throw new SandboxException(SandboxErrorCode.InvalidArgument,
            $"runtime options of type '{options.TypeUrl}' are not supported (only runtimeoptions.v1.Options)");
    }

    private async Task<StartResponse> StartAsync(StartRequest request, TtrpcCallContext ctx)
    {
        var container = Get(request.Id);
        var process = container.Process(request.ExecId);
        await container.Gate.WaitAsync(ctx.CancellationToken).ConfigureAwait(false);
        try
        {
            if (!process.IsInit && container.Init.Status != ProcessStatus.Running)
                throw new SandboxException(SandboxErrorCode.FailedPrecondition, $"container {container.Id} is not running: cannot start exec {process.ExecId}");
            if (!process.TryMarkStarting())
                throw new SandboxException(SandboxErrorCode.FailedPrecondition,
                    $"process {Name(process)} is {process.Status.ToString().ToLowerInvariant()}, not created");
            SandboxService.RunningProcess running;
            try
            {
                // A ResizePty before Start gives the terminal its first size.
                var spec = process.PendingSize is { } size && process.Spec.Tty is not null ? process.Spec with { Tty = size } : process.Spec;
                running = await core.Sandboxes.ExecAsync(principal, container.SandboxId, spec, process.Stdio.ProcessIO,
                    container.Lifetime.Token).ConfigureAwait(false);
            }
            catch
            {
                process.TryMarkStopped(255, DateTimeOffset.UtcNow);
                await process.Stdio.DisposeAsync().ConfigureAwait(false);
                process.ReleaseWaiters();
                throw;
            }
            process.Started(running);
            // The start event goes out before the monitor can publish the exit: the queue keeps this order.
            if (process.IsInit)
                Publish("/tasks/start", new TaskStart { ContainerId = container.Id, Pid = (uint)running.Pid });
            else
                Publish("/tasks/exec-started", new TaskExecStarted { ContainerId = container.Id, ExecId = process.ExecId, Pid = (uint)running.Pid });
            _ = MonitorAsync(container, process, running);
            Daemon.HeapTrim.AfterBurst(logger, "start");
            return new StartResponse { Pid = (uint)running.Pid };
        }
        finally
        {
            container.Gate.Release();
        }
    }

    /// <summary>Exit → output delivered and the client's FIFOs closed → exit status recorded → TaskOOM (if the OOM
    /// killer ended it) → TaskExit → Wait released. When the init exits, its execs are killed first and its exit is
    /// published last, as with runc (whose container ends with its init).</summary>
    private async Task MonitorAsync(ShimContainer container, ShimProcess process, SandboxService.RunningProcess running)
    {
        ExitStatus? status = null;
        try
        {
            status = await running.Completion.ConfigureAwait(false);
        }
        catch (SandboxException e)
        {
            ShimLog.RpcFailed(logger, container.Id, "wait for " + Name(process), e.Message);
        }
        await process.Stdio.DisposeAsync().ConfigureAwait(false);
        if (process.IsInit)
            await EndExecsAsync(container).ConfigureAwait(false);
        var code = status is { } s ? (uint)s.ExitCode : 255u;
        // A Kill still on its way answers first (ShimContainer.Signalling); bounded, as its call to the sandbox is.
        if (process.IsInit && await container.Signalling.WaitAsync(KillReplyWait).ConfigureAwait(false))
            container.Signalling.Release();
        if (status is { OomKilled: true })
            Publish("/tasks/oom", new TaskOOM { ContainerId = container.Id });
        if (process.TryMarkStopped(code, DateTimeOffset.UtcNow))
        {
            ShimLog.Exited(logger, container.Id, Name(process), (int)code);
            Publish("/tasks/exit", new TaskExit
            {
                ContainerId = container.Id,
                Id = process.IsInit ? container.Id : process.ExecId,
                Pid = (uint)process.Pid,
                ExitStatus = code,
                ExitedAt = Timestamps.From(process.ExitedAt),
            });
        }
        process.ReleaseWaiters();
    }

    private static readonly TimeSpan KillReplyWait = TimeSpan.FromSeconds(5);

    private static async Task EndExecsAsync(ShimContainer container)
    {
        var running = container.Execs.Values.Where(e => e.Status == ProcessStatus.Running && e.Running is not null).ToList();
        foreach (var exec in running)
        {
            try
            {
                await exec.Running!.SignalAsync(9, CancellationToken.None).ConfigureAwait(false);
            }
            catch (SandboxException)
            {
                // Exited meanwhile.
            }
        }
        await Task.WhenAll(running.Select(e => e.Exited)).WaitAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
    }

    private async Task<DeleteResponse> DeleteAsync(DeleteRequest request, TtrpcCallContext ctx)
    {
        var container = Get(request.Id);
        if (request.ExecId.Length > 0)
            return await DeleteExecAsync(container, container.Process(request.ExecId)).ConfigureAwait(false);
        await container.Gate.WaitAsync(ctx.CancellationToken).ConfigureAwait(false);
        try
        {
            var init = container.Init;
            if (init.Status == ProcessStatus.Running)
                throw new SandboxException(SandboxErrorCode.FailedPrecondition, $"cannot delete container {container.Id}: its process is running");
            if (init.TryMarkStopped(0, DateTimeOffset.UtcNow))
            {
                // Created, never started: nothing ran.
                await init.Stdio.DisposeAsync().ConfigureAwait(false);
                init.ReleaseWaiters();
            }
            try
            {
                await core.Sandboxes.DeleteAsync(principal, container.SandboxId).ConfigureAwait(false);
            }
            catch (SandboxException e) when (e.Code == SandboxErrorCode.NotFound)
            {
                // Already gone.
            }
            await container.Lifetime.CancelAsync().ConfigureAwait(false);
            foreach (var exec in container.Execs.Values)
                await exec.Stdio.DisposeAsync().ConfigureAwait(false);
            if (container.MountedRootfs is { } mounted)
                Cleanup(container.Id, "rootfs mount", () => SnapshotMounts.UnmountAll(mounted));
            Cleanup(container.Id, "state directory", () => TierReport.Remove(ns, container.Id));
            _containers.TryRemove(container.Id, out _);
            Publish("/tasks/delete", new TaskDelete
            {
                ContainerId = container.Id,
                Id = container.Id,
                Pid = (uint)init.Pid,
                ExitStatus = init.ExitStatus,
                ExitedAt = Timestamps.From(init.ExitedAt),
            });
            Daemon.HeapTrim.AfterBurst(logger, "delete");
            return new DeleteResponse { Pid = (uint)init.Pid, ExitStatus = init.ExitStatus, ExitedAt = Timestamps.From(init.ExitedAt) };
        }
        finally
        {
            container.Gate.Release();
        }
    }

    private static async Task<DeleteResponse> DeleteExecAsync(ShimContainer container, ShimProcess exec)
    {
        if (exec.Status == ProcessStatus.Running)
            throw new SandboxException(SandboxErrorCode.FailedPrecondition, $"cannot delete exec {exec.ExecId} of {container.Id}: it is running");
        if (exec.TryMarkStopped(0, DateTimeOffset.UtcNow))
            exec.ReleaseWaiters();
        await exec.Stdio.DisposeAsync().ConfigureAwait(false);
        container.Execs.TryRemove(exec.ExecId, out _);
        return new DeleteResponse { Pid = (uint)exec.Pid, ExitStatus = exec.ExitStatus, ExitedAt = Timestamps.From(exec.ExitedAt) };
    }

    private void Cleanup(string id, string what, Action action)
    {
        try
        {
            action();
        }
        catch (Exception e) when (e is SandboxException or IOException or UnauthorizedAccessException)
        {
            ShimLog.CleanupFailed(logger, id, what, e.Message);
        }
    }

    private static string Name(ShimProcess process) => process.IsInit ? $"init of {process.ContainerId}" : $"exec {process.ExecId} of {process.ContainerId}";
}
