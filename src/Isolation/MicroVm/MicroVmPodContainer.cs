using Sandbox.AgentProtocol.V1;

namespace Sandbox.Isolation.MicroVm;

/// <summary>
/// A container in the microVM of its pod (<see cref="IPodHost"/>): its processes run in the guest inside its own root,
/// mount, pid, UTS and IPC namespaces, cgroup, user and seccomp program (the guest agent's GuestContainer); the guest
/// kernel and the VM are the pod's. Processes go through the pod VM's agent channel with this container's id. What is
/// this container's alone, through its cgroup in the guest: pause and resume, limit updates, the workload's processes and
/// a signal to all of them; file transfer is not offered here yet. Stats are the container's own, from its cgroup in
/// the guest.
/// </summary>
public sealed class MicroVmPodContainer : ISandbox
{
    private readonly MicroVmSandbox _pod;
    private readonly SandboxSpec _spec;
    private readonly string _sharedImage;
    private readonly TaskCompletionSource<SandboxTermination> _terminated = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _disposed;

    internal MicroVmPodContainer(MicroVmSandbox pod, SandboxSpec spec, SandboxInfo info, int holderPid, string sharedImage)
    {
        _pod = pod;
        _spec = spec;
        _sharedImage = sharedImage;
        Info = info;
        HolderPid = holderPid;
        // The pod's VM ending ends every container in it.
        _ = pod.Terminated.ContinueWith(t => _terminated.TrySetResult(t.Result with { Detail = $"the pod's microVM {pod.Info.Id} ended: {t.Result.Detail}" }),
            CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously | TaskContinuationOptions.OnlyOnRanToCompletion, TaskScheduler.Default);
    }

    public SandboxInfo Info { get; }

    /// <summary>The container's PID 1 (its holder) as the guest's root sees it.</summary>
    public int HolderPid { get; }

    /// <summary>Containers of a pod die with their owner (the pod's VM does).</summary>
    public SandboxAttachment? Attachment => null;

    public Task<SandboxTermination> Terminated => _terminated.Task;

    public Task<ISandboxProcess> ExecAsync(ProcessSpec spec, ProcessIO io, CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        return _pod.ExecInAsync(_spec, Info.Id.Value, spec, io, cancellationToken);
    }

    public Task SignalAsync(int signal, CancellationToken cancellationToken)
    {
        SignalNumbers.Check(signal);
        throw Unimplemented("signal every process of a pod's container at once (signal one process, or dispose it)");
    }

    /// <summary>Freezes this container's cgroup in the guest, not the pod's VM: the pod's other containers go on.</summary>
    public Task PauseAsync(CancellationToken cancellationToken) => ControlAsync(ControlContainerRequest.Types.Action.Freeze, cancellationToken);

    public Task ResumeAsync(CancellationToken cancellationToken) => ControlAsync(ControlContainerRequest.Types.Action.Thaw, cancellationToken);

    /// <summary>Memory, pids and CPU quota of this container's cgroup in the guest (the VM's own size is the pod's).</summary>
    public async Task UpdateLimitsAsync(ResourceLimits limits, CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        SpecValidator.ValidateUpdate(_spec.Limits, limits);
        await _pod.ControlContainerAsync(new ControlContainerRequest
        {
            ContainerId = Info.Id.Value,
            Action = ControlContainerRequest.Types.Action.Update,
            MemoryBytes = limits.MemoryMiB << 20,
            PidsMax = limits.PidsMax,
            CpuQuotaUsec = limits.Cpus > 0 ? Cgroups.CgroupFactory.CpuQuotaMicroseconds(limits.Cpus) : 0,
        }, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Every process of this container but its holder (its PID 1, the engine's), by its pid in the container.</summary>
    public async Task<IReadOnlyList<int>> ListWorkloadProcessesAsync(CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        var r = await _pod.ControlContainerAsync(new ControlContainerRequest { ContainerId = Info.Id.Value, Action = ControlContainerRequest.Types.Action.List },
            cancellationToken).ConfigureAwait(false);
        return r.Pids.Order().ToList();
    }

    public Task SignalWorkloadAsync(int signal, CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        SignalNumbers.Check(signal);
        return _pod.ControlContainerAsync(new ControlContainerRequest
            { ContainerId = Info.Id.Value, Action = ControlContainerRequest.Types.Action.Signal, Signal = signal }, cancellationToken);
    }

    private Task ControlAsync(ControlContainerRequest.Types.Action action, CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        return _pod.ControlContainerAsync(new ControlContainerRequest { ContainerId = Info.Id.Value, Action = action }, cancellationToken);
    }

    /// <summary>This container's own usage: its cgroup in the guest (memory, CPU time, tasks, OOM kills).</summary>
    public Task<SandboxStats> GetStatsAsync(CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        return _pod.ContainerStatsAsync(Info.Id, cancellationToken);
    }

    public Task<byte[]> ReadFileAsync(string path, long maxBytes, CancellationToken cancellationToken) => throw NoFiles();

    public Task WriteFileAsync(string path, ReadOnlyMemory<byte> content, int mode, CancellationToken cancellationToken) => throw NoFiles();

    public Task<SandboxFileListing> ListFilesAsync(string path, int maxEntries, CancellationToken cancellationToken) => throw NoFiles();

    public Task<long> ReadFileToAsync(string path, Stream destination, long maxBytes, CancellationToken cancellationToken) => throw NoFiles();

    public Task<long> WriteFileFromAsync(string path, Stream source, int mode, CancellationToken cancellationToken) => throw NoFiles();

    public Task ExportDirectoryAsync(string path, Stream tarDestination, CancellationToken cancellationToken) => throw NoFiles();

    public Task ImportDirectoryAsync(string path, Stream tarSource, CancellationToken cancellationToken) => throw NoFiles();

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
            return;
        _terminated.TrySetResult(new SandboxTermination(SandboxTerminationReason.Disposed, null, "disposed by its owner"));
        await _pod.RemoveContainerAsync(Info.Id, _sharedImage).ConfigureAwait(false);
    }

    private static SandboxException Unimplemented(string what) =>
        new(SandboxErrorCode.Unimplemented, $"the microVM tier cannot {what}");

    private static SandboxException NoFiles() =>
        new(SandboxErrorCode.Unimplemented, "file transfer into a container of a pod's microVM is not offered yet (exec a process to read or write)");
}
