using System.Text.Json;
using Google.Protobuf.WellKnownTypes;
using Sandbox.Core;
using Sandbox.Isolation;
using Sandbox.KataShim.Io;
using Sandbox.KataShim.Mapping;
using Sandbox.KataShim.Oci;
using Sandbox.KataShim.Protocol.Events;
using Sandbox.KataShim.Protocol.Task;
using Sandbox.KataShim.Protocol.Types;
using Sandbox.Ttrpc;
using TaskStatus = Sandbox.KataShim.Protocol.Types.Status;

namespace Sandbox.KataShim.Tasks;

internal sealed partial class TaskService
{
    private const string OciProcessType = "types.containerd.io/opencontainers/runtime-spec/1/Process";

    private Task<StateResponse> StateAsync(StateRequest request, TtrpcCallContext ctx)
    {
        var container = Get(request.Id);
        var process = container.Process(request.ExecId);
        var status = process.Status switch
        {
            ProcessStatus.Created => TaskStatus.Created,
            ProcessStatus.Running => IsPaused(container) ? TaskStatus.Paused : TaskStatus.Running,
            _ => TaskStatus.Stopped,
        };
        return Task.FromResult(new StateResponse
        {
            Id = process.IsInit ? container.Id : process.ExecId,
            ExecId = process.ExecId,
            Bundle = container.Bundle,
            Pid = (uint)process.Pid,
            Status = status,
            Stdin = process.Paths.Stdin,
            Stdout = process.Paths.Stdout,
            Stderr = process.Paths.Stderr,
            Terminal = process.Paths.Terminal,
            ExitStatus = process.ExitStatus,
            ExitedAt = status == TaskStatus.Stopped ? Timestamps.From(process.ExitedAt) : null,
        });
    }

    private bool IsPaused(ShimContainer container)
    {
        try
        {
            return core.Sandboxes.Get(principal, container.SandboxId).State == SandboxState.Paused;
        }
        catch (SandboxException)
        {
            return false;
        }
    }

    /// <summary>Called before Start by ctr and CRI, and concurrently with every other call: blocks until the exit was published.</summary>
    private async Task<WaitResponse> WaitAsync(WaitRequest request, TtrpcCallContext ctx)
    {
        var process = Get(request.Id).Process(request.ExecId);
        await process.Exited.WaitAsync(ctx.CancellationToken).ConfigureAwait(false);
        return new WaitResponse { ExitStatus = process.ExitStatus, ExitedAt = Timestamps.From(process.ExitedAt) };
    }

    private async Task<Empty> KillAsync(KillRequest request, TtrpcCallContext ctx)
    {
        var container = Get(request.Id);
        var process = container.Process(request.ExecId);
        if (request.Signal is < 1 or > 64)
            throw new SandboxException(SandboxErrorCode.InvalidArgument, $"signal {request.Signal} is out of range [1, 64]");
        var signal = (int)request.Signal;
        if (request.All)
        {
            // Every process of the container: the sandbox's whole workload (what its execs forked and left behind too),
            // never the agent; where the tier cannot tell them apart, the init and the execs the shim started.
            var live = new[] { container.Init }.Concat(container.Execs.Values).Where(p => p.Status == ProcessStatus.Running && p.Running is not null).ToList();
            if (live.Count == 0)
                throw ErrorMapping.NotFound("process already finished");
            await container.Signalling.WaitAsync(ctx.CancellationToken).ConfigureAwait(false);
            try
            {
                await core.Sandboxes.SignalWorkloadAsync(principal, container.SandboxId, signal, ctx.CancellationToken).ConfigureAwait(false);
            }
            catch (SandboxException e) when (e.Code == SandboxErrorCode.Unimplemented)
            {
                foreach (var p in live)
                    await SignalQuietlyAsync(p, signal).ConfigureAwait(false);
            }
            finally
            {
                container.Signalling.Release();
            }
            return new Empty();
        }
        switch (process.Status)
        {
            case ProcessStatus.Stopped:
                throw ErrorMapping.NotFound("process already finished");
            case ProcessStatus.Created when process.IsInit:
                // Killed before it started: it never runs; it "exits" of the signal, as runc's waiting init does.
                await container.Gate.WaitAsync(ctx.CancellationToken).ConfigureAwait(false);
                try
                {
                    if (process.Status == ProcessStatus.Created && process.TryMarkStopped((uint)(128 + signal), DateTimeOffset.UtcNow))
                    {
                        await process.Stdio.DisposeAsync().ConfigureAwait(false);
                        Publish("/tasks/exit", new TaskExit { ContainerId = container.Id, Id = container.Id, ExitStatus = process.ExitStatus, ExitedAt = Timestamps.From(process.ExitedAt) });
                        process.ReleaseWaiters();
                    }
                }
                finally
                {
                    container.Gate.Release();
                }
                return new Empty();
            case ProcessStatus.Created:
                throw new SandboxException(SandboxErrorCode.FailedPrecondition, $"exec {process.ExecId} of {container.Id} is not started");
        }
        if (process.Running is not { } running)
            throw new SandboxException(SandboxErrorCode.FailedPrecondition, $"process {Name(process)} is starting");
        await container.Signalling.WaitAsync(ctx.CancellationToken).ConfigureAwait(false);
        try
        {
            await running.SignalAsync(signal, ctx.CancellationToken).ConfigureAwait(false);
        }
        finally
        {
            container.Signalling.Release();
        }
        return new Empty();
    }

    private static async Task SignalQuietlyAsync(ShimProcess process, int signal)
    {
        try
        {
            await process.Running!.SignalAsync(signal, CancellationToken.None).ConfigureAwait(false);
        }
        catch (SandboxException e) when (e.Code is SandboxErrorCode.NotFound or SandboxErrorCode.FailedPrecondition)
        {
            // Exited meanwhile.
        }
    }

    private async Task<Empty> ExecAsync(ExecProcessRequest request, TtrpcCallContext ctx)
    {
        var container = Get(request.Id);
        if (request.ExecId.Length == 0)
            throw new SandboxException(SandboxErrorCode.InvalidArgument, "exec_id is empty");
        if (container.Init.Status != ProcessStatus.Running)
            throw new SandboxException(SandboxErrorCode.FailedPrecondition, $"container {container.Id} is not running: cannot exec in it");
        if (container.Execs.ContainsKey(request.ExecId))
            throw new TtrpcException(StatusCode.AlreadyExists, $"exec {request.ExecId} of {container.Id} already exists");
        if (request.Spec is null || request.Spec.TypeUrl != OciProcessType)
            throw new SandboxException(SandboxErrorCode.InvalidArgument, $"exec spec of type '{request.Spec?.TypeUrl}' is not {OciProcessType}");
        OciProcess? oci;
        try
        {
            oci = JsonSerializer.Deserialize(request.Spec.Value.Span, OciJson.Default.OciProcess);
        }
        catch (JsonException e)
        {
            throw new SandboxException(SandboxErrorCode.InvalidArgument, $"exec spec: {e.Message}");
        }
        var errors = new List<string>();
        var notes = new List<string>();
        var spec = oci is null ? null : BundleTranslator.ToProcess(oci, "exec process", errors, notes);
        if (spec is null || errors.Count > 0)
            throw new SandboxException(SandboxErrorCode.InvalidArgument, $"exec spec: {(errors.Count > 0 ? string.Join("; ", errors) : "empty")}");
        if (spec.Tty is not null != request.Terminal)
            throw new SandboxException(SandboxErrorCode.InvalidArgument, $"terminal {request.Terminal} disagrees with the exec spec's terminal");
        foreach (var note in notes)
            ShimLog.Accepted(logger, container.Id, note);
        var stdio = await TaskStdio.OpenAsync(request.Stdin, request.Stdout, request.Stderr, request.Id, ns).ConfigureAwait(false);
        var exec = new ShimProcess(container.Id, request.ExecId, spec, stdio, new StdioPaths(request.Stdin, request.Stdout, request.Stderr, request.Terminal));
        if (!container.Execs.TryAdd(request.ExecId, exec))
        {
            await stdio.DisposeAsync().ConfigureAwait(false);
            throw new TtrpcException(StatusCode.AlreadyExists, $"exec {request.ExecId} of {container.Id} already exists");
        }
        Publish("/tasks/exec-added", new TaskExecAdded { ContainerId = container.Id, ExecId = request.ExecId });
        return new Empty();
    }

    /// <summary>Every process of the task's container (pids as the sandbox sees them): the sandbox's whole workload,
    /// what its execs forked and left behind too, never the agent; where the tier cannot tell them apart, the init and
    /// the execs the shim started.</summary>
    private async Task<PidsResponse> PidsAsync(PidsRequest request, TtrpcCallContext ctx)
    {
        var container = Get(request.Id);
        var response = new PidsResponse();
        IEnumerable<int> pids;
        try
        {
            pids = await core.Sandboxes.ListWorkloadProcessesAsync(principal, container.SandboxId, ctx.CancellationToken).ConfigureAwait(false);
        }
        catch (SandboxException e) when (e.Code is SandboxErrorCode.Unimplemented or SandboxErrorCode.FailedPrecondition or SandboxErrorCode.NotFound)
        {
            pids = new[] { container.Init }.Concat(container.Execs.Values).Where(p => p.Status == ProcessStatus.Running && p.Pid > 0).Select(p => p.Pid);
        }
        foreach (var pid in pids)
            response.Processes.Add(new ProcessInfo { Pid = (uint)pid });
        return response;
    }

    private Task<Empty> CloseIOAsync(CloseIORequest request, TtrpcCallContext ctx)
    {
        var process = Get(request.Id).Process(request.ExecId);
        if (request.Stdin)
            process.Stdio.CloseStdin();
        return Task.FromResult(new Empty());
    }

    private async Task<Empty> ResizePtyAsync(ResizePtyRequest request, TtrpcCallContext ctx)
    {
        var process = Get(request.Id).Process(request.ExecId);
        if (request.Width == 0 || request.Height == 0)
            return new Empty(); // the client does not know its size yet
        if (request.Width > ushort.MaxValue || request.Height > ushort.MaxValue)
            throw new SandboxException(SandboxErrorCode.InvalidArgument, $"terminal size {request.Width}x{request.Height} is out of range [1, 65535]");
        if (process.Spec.Tty is null)
            throw new SandboxException(SandboxErrorCode.FailedPrecondition, $"process {Name(process)} has no terminal");
        var size = new TerminalSize((int)request.Height, (int)request.Width);
        if (process.Status == ProcessStatus.Running && process.Running is { } running)
            await running.ResizeAsync(size, ctx.CancellationToken).ConfigureAwait(false);
        else
            process.PendingSize = size;
        return new Empty();
    }
}
