using Sandbox.AgentProtocol.V1;
using Sandbox.Isolation.Agent;

namespace Sandbox.Isolation.MicroVm;

/// <summary>A long-lived microVM sandbox: the guest agent (PID 1) execs processes and serves files over the
/// virtio-serial channel, with the same supervision code as the container tier (<see cref="AgentProcess"/>,
/// <see cref="AgentFiles"/>). Limits inside are the guest's workload cgroup; the VM itself is bounded by its RAM,
/// vCPUs and the host cgroup of its QEMU.</summary>
public sealed partial class MicroVmSandbox : ISandbox, IWarmUp
{
    private readonly MicroVmInstance _vm;
    private readonly SandboxSpec _spec;
    private readonly CancellationTokenSource _disposing = new();
    private readonly TaskCompletionSource<SandboxTermination> _terminated = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private long _execCounter;
    private int _disposed;
    private bool _paused; // QMP stop: the agent answers nothing until cont

    /// <summary>Exec ids must not repeat within the agent's life, which may span several owners (re-attach).</summary>
    private readonly string _execPrefix = "e" + Convert.ToHexStringLower(KernelRandom.GetBytes(4)) + "-";

    private readonly Accelerator _accelerator;

    /// <summary>Network mode egress: the sandbox's network (namespace, filter, resolver, pasta, passt), torn down after
    /// QEMU.</summary>
    private readonly Network.SandboxNetwork? _network;

    /// <summary>A CNI pod's network: the tap in the pod's namespace QEMU's NIC is on, and its redirects; removed after
    /// QEMU.</summary>
    private readonly Network.PodNetworkTap? _podTap;

    internal MicroVmSandbox(MicroVmInstance vm, SandboxSpec spec, SandboxInfo info, string? template, Accelerator accelerator,
        Network.SandboxNetwork? network = null, Network.PodNetworkTap? podTap = null)
    {
        _network = network;
        _podTap = podTap;
        _accelerator = accelerator;
        _vm = vm;
        _spec = spec;
        Info = info;
        Template = template;
        // A silent or lost guest agent breaks the sandbox: killing QEMU ends everything it was supervising.
        _channel = new AgentChannel(vm.Agent, info.Id, () =>
        {
            vm.Qemu.Kill();
            return Task.CompletedTask;
        }, vm.Console.ToString);
        _ = WatchAsync();
    }

    /// <summary>QEMU's exit is the sandbox's death (the agent is the guest's PID 1: its death panics the guest, and
    /// panic=-1 with -no-reboot ends QEMU).</summary>
    private async Task WatchAsync()
    {
        var exit = await _vm.Qemu.Exited.ConfigureAwait(false);
        _terminated.TrySetResult(new SandboxTermination(SandboxTerminationReason.ProcessExited, exit.Status,
            $"QEMU exited ({exit}); console: {_vm.Console}"));
    }

    private readonly AgentChannel _channel;

    /// <summary>The key of the snapshot template this sandbox was restored from; null when it was cold-booted.</summary>
    public string? Template { get; }

    public SandboxInfo Info { get; }

    /// <summary>For a VM that outlives its owner: QEMU's pid and start time, its state directory, and what the spec
    /// said (<see cref="MicroVmAttachment"/>).</summary>
    public SandboxAttachment? Attachment => _spec.DieWithOwner ? null : new MicroVmAttachment
    {
        QemuPid = _vm.Qemu.Pid,
        QemuStartTime = _vm.Qemu.StartTime,
        StateDirectory = _vm.Directory,
        Accelerator = _accelerator,
        GuestKernel = _vm.GuestKernel,
        Template = Template,
        Limits = _spec.Limits,
        Env = _spec.Env,
        WorkDir = _spec.WorkDir,
        Hostname = _spec.Hostname,
        SyscallProfile = Info.SyscallProfile,
        SeccompDigest = Info.SeccompDigest,
        HostUid = _vm.HostUid,
    }.ToAttachment();

    /// <summary>uname -r inside the guest, as the agent reported it.</summary>
    public string GuestKernel => _vm.GuestKernel;

    internal MicroVmInstance Instance => _vm;

    /// <summary>Where this VM's start went: the host's stages and the guest's as its agent reports them now (a Ping:
    /// stages reached since the start, such as the first exec, are included), lined up on the readiness ping.</summary>
    public async Task<MicroVmStartTimeline> StartTimelineAsync(CancellationToken cancellationToken)
    {
        var ping = await _channel.CallAsync("Ping", (c, t) => c.PingAsync(t), cancellationToken).ConfigureAwait(false);
        // This Ping stamped "ping" again: the readiness ping's stamp is the one the host's clock is lined up with.
        var readiness = _vm.GuestTimeline.Where(s => s.Stage == "ping");
        var guest = MicroVmStartTimeline.GuestStages(ping.BootStages).Where(s => s.Stage != "ping").Concat(readiness)
            .OrderBy(s => s.Boottime).ToList();
        return new MicroVmStartTimeline([.. _vm.HostTimeline], guest, _vm.GuestPingAt);
    }

    /// <summary>Runs `true` (found on the default PATH) as the workload and waits for it: under TCG the first exec of a
    /// restored clone translates the exec path anew (hundreds of milliseconds), later ones reuse it. A root without
    /// `true` is not warmed. For warm pools (<see cref="IWarmUp"/>).</summary>
    public async Task WarmUpAsync(CancellationToken cancellationToken)
    {
        ISandboxProcess process;
        try
        {
            process = await ExecAsync(new ProcessSpec { Argv = ["true"] }, new ProcessIO(), cancellationToken).ConfigureAwait(false);
        }
        catch (SandboxException e) when (e.Code is SandboxErrorCode.NotFound or SandboxErrorCode.PermissionDenied)
        {
            return;
        }
        await process.WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Host memory of this sandbox's QEMU process (PSS, RSS in bytes), from /proc/PID/smaps_rollup.</summary>
    public (long PssBytes, long RssBytes) HostMemory() => _vm.Memory();

    public Task<ISandboxProcess> ExecAsync(ProcessSpec spec, ProcessIO io, CancellationToken cancellationToken) =>
        ExecInAsync(_spec, null, spec, io, cancellationToken);

    /// <summary>An exec in the guest's root, or in the pod container <paramref name="container"/> of this VM (whose
    /// spec <paramref name="sandbox"/> gives the defaults: environment, work dir, wall time, output cap).</summary>
    internal async Task<ISandboxProcess> ExecInAsync(SandboxSpec sandbox, string? container, ProcessSpec spec, ProcessIO io, CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        SpecValidator.Validate(spec);
        var env = DefaultEnvironment.For(sandbox, spec);
        var request = new ExecRequest
        {
            ExecId = _execPrefix + Interlocked.Increment(ref _execCounter),
            ContainerId = container ?? "",
            Cwd = spec.WorkingDirectory ?? sandbox.WorkDir,
            Stdin = io.Stdin is not null,
            Tty = spec.Tty is { } tty ? new TtySize { Rows = (uint)tty.Rows, Cols = (uint)tty.Cols } : null,
            User = spec.User ?? "",
        };
        request.Argv.AddRange(spec.Argv);
        request.Env.AddRange(env.Select(kv => new EnvVar { Name = kv.Key, Value = kv.Value }));
        var timeout = spec.Timeout ?? sandbox.Limits.WallTime;
        // One call for a short exec, as on the container tier: the agent answers with its end and output (each further
        // agent call costs the guest's one vCPU ~1 ms under TCG; docs/microvm-bench.md, eighth round).
        var startedAt = AgentProcess.AskForEnd(request, spec, io, timeout, sandbox.Limits.OutputBytes);
        var response = await _channel.CallAsync("Exec", (c, t) => c.ExecAsync(request, t), cancellationToken).ConfigureAwait(false);
        // OOM is judged inside the guest (the agent's WaitResponse.oom_killed): the host cgroup only bounds QEMU.
        return AgentProcess.Start(_channel, request.ExecId, response, startedAt, timeout, sandbox.Limits.OutputBytes,
            io, static () => false, _disposing.Token);
    }

    public Task<byte[]> ReadFileAsync(string path, long maxBytes, CancellationToken cancellationToken) =>
        AgentFiles.ReadAsync(_channel, path, maxBytes, cancellationToken);

    public Task WriteFileAsync(string path, ReadOnlyMemory<byte> content, int mode, CancellationToken cancellationToken) =>
        AgentFiles.WriteAsync(_channel, path, content, mode, cancellationToken);

    public Task<SandboxFileListing> ListFilesAsync(string path, int maxEntries, CancellationToken cancellationToken) =>
        AgentFiles.ListAsync(_channel, path, maxEntries, cancellationToken);

    public Task<long> ReadFileToAsync(string path, Stream destination, long maxBytes, CancellationToken cancellationToken) =>
        AgentFiles.ReadToAsync(_channel, path, destination, maxBytes, cancellationToken);

    public Task<long> WriteFileFromAsync(string path, Stream source, int mode, CancellationToken cancellationToken) =>
        AgentFiles.WriteFromAsync(_channel, path, source, mode, cancellationToken);

    public Task ExportDirectoryAsync(string path, Stream tarDestination, CancellationToken cancellationToken) =>
        AgentTar.ExportAsync(_channel, path, tarDestination, cancellationToken);

    public Task ImportDirectoryAsync(string path, Stream tarSource, CancellationToken cancellationToken) =>
        AgentTar.ImportAsync(_channel, path, tarSource, cancellationToken);

    /// <summary>The host's view: QEMU's cgroup (guest RAM actually touched, emulation CPU time).</summary>
    public Task<SandboxStats> GetStatsAsync(CancellationToken cancellationToken) => Task.FromResult(_vm.ReadHostStats());

    // ---- Lifecycle (the driver seam) ----

    public Task<SandboxTermination> Terminated => _terminated.Task;

    public Task SignalAsync(int signal, CancellationToken cancellationToken)
    {
        SignalNumbers.Check(signal);
        throw new SandboxException(SandboxErrorCode.Unimplemented,
            "the microVM tier cannot signal every guest process at once (the agent has no such call): signal one process, or dispose the sandbox");
    }

    /// <summary>Every process of the guest's own workload (its cgroup in the guest; a pod VM's: its own workload, not
    /// the pod's other containers), never the agent: the agent's ControlContainer with no container id. Pids as the
    /// workload sees them.</summary>
    public async Task<IReadOnlyList<int>> ListWorkloadProcessesAsync(CancellationToken cancellationToken)
    {
        var r = await ControlOwnWorkloadAsync(new ControlContainerRequest { Action = ControlContainerRequest.Types.Action.List }, "list", cancellationToken)
            .ConfigureAwait(false);
        return r.Pids.Order().ToList();
    }

    /// <summary>Signals every process <see cref="ListWorkloadProcessesAsync"/> lists (read with the guest's workload
    /// cgroup frozen); the agent and the VM go on.</summary>
    public Task SignalWorkloadAsync(int signal, CancellationToken cancellationToken)
    {
        SignalNumbers.Check(signal);
        return ControlOwnWorkloadAsync(new ControlContainerRequest { Action = ControlContainerRequest.Types.Action.Signal, Signal = signal }, "signal",
            cancellationToken);
    }

    private Task<ControlContainerResponse> ControlOwnWorkloadAsync(ControlContainerRequest request, string what, CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        if (Volatile.Read(ref _paused))
            throw new SandboxException(SandboxErrorCode.FailedPrecondition, $"cannot {what} the workload of a paused microVM (its vCPUs are stopped): resume it first");
        return _channel.CallAsync("ControlContainer", (c, t) => c.ControlContainerAsync(request, t), cancellationToken);
    }

    /// <summary>QMP stop: every vCPU halts (the guest's clock jumps on resume).</summary>
    public async Task PauseAsync(CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        await _vm.Qmp.StopAsync(cancellationToken).ConfigureAwait(false);
        Volatile.Write(ref _paused, true);
    }

    public async Task ResumeAsync(CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        await _vm.Qmp.ContAsync(cancellationToken).ConfigureAwait(false);
        Volatile.Write(ref _paused, false);
    }

    public Task UpdateLimitsAsync(ResourceLimits limits, CancellationToken cancellationToken)
    {
        SpecValidator.Validate(limits);
        throw new SandboxException(SandboxErrorCode.Unimplemented,
            "the microVM tier cannot change limits of a running guest: its RAM and the guest cgroup are set at boot (the agent has no update call)");
    }

    /// <summary>Lets go of the VM as an owner's death would (its connections close; QEMU, its cgroup and state stay),
    /// so a test can take it back with a new driver instance in the same process.</summary>
    internal async ValueTask AbandonAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
            return;
        // Closed first: the connection this owner drops is not a lost agent, and must not break (kill) the VM.
        _channel.Close();
        await _disposing.CancelAsync().ConfigureAwait(false);
        await _vm.AbandonAsync().ConfigureAwait(false);
        // QEMU keeps its own descriptor of the tap, and the redirects stay with it (CNI's teardown removes the veth).
        _podTap?.Tap.Dispose();
        _channel.Dispose();
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
            return;
        _channel.Close();
        _terminated.TrySetResult(new SandboxTermination(SandboxTerminationReason.Disposed, null, "disposed by its owner"));
        await _disposing.CancelAsync().ConfigureAwait(false);
        // No graceful guest shutdown is needed: nothing in the guest outlives the VM. QMP quit, then the cgroup kill.
        await _vm.DisposeAsync().ConfigureAwait(false);
        if (_network is not null)
            await _network.DisposeAsync().ConfigureAwait(false);
        _podTap?.Dispose();
        _channel.Dispose();
        _disposing.Dispose();
    }
}
