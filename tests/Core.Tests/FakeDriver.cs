using Sandbox.Isolation;

namespace Sandbox.Core.Tests;

/// <summary>An ISandboxDriver that launches nothing: it records every spec it is given, and fails or answers as a test
/// tells it. Core is what these tests are about; the real drivers are tested against bwrap and QEMU elsewhere.</summary>
internal sealed class FakeDriver(SandboxTier tier, DriverAvailability? availability = null, Task<DriverAvailability>? probe = null) : ISandboxDriver, ILeftoverReclaimer
{
    public SandboxTier Tier => tier;

    public DriverCapabilities Capabilities { get; set; } = DriverCapabilities.Attach | DriverCapabilities.Pause | DriverCapabilities.UpdateLimits |
        DriverCapabilities.ExitNotification;

    public ConcurrentLog<SandboxSpec> Created { get; } = new();
    public ConcurrentLog<SandboxSpec> Ran { get; } = new();
    public ConcurrentLog<ProcessSpec> RanProcesses { get; } = new();
    public ConcurrentLog<FakeSandbox> Live { get; } = new();
    public HashSet<SandboxId> Leftovers { get; } = [];
    public ConcurrentLog<SandboxId> Reclaimed { get; } = new();
    /// <summary>Ids AttachAsync takes back (any other attachment is refused, as a real driver refuses a dead sandbox).</summary>
    public HashSet<SandboxId> Attachable { get; } = [];

    /// <summary>When set, CreateAsync and RunAsync throw it.</summary>
    public Exception? Fail { get; set; }

    /// <summary>When set, every exec of a sandbox created afterwards runs until this task ends.</summary>
    public Task? HoldExecs { get; set; }

    /// <summary>What RunAsync and every exec report.</summary>
    public ExitStatus Status { get; set; } = new() { ExitCode = 0 };

    public Task<DriverAvailability> ProbeAsync(CancellationToken cancellationToken) =>
        probe ?? Task.FromResult(availability ?? new DriverAvailability(true, "fake", tier == SandboxTier.MicroVm ? Accelerator.Tcg : Accelerator.None));

    public Task<ISandbox> CreateAsync(SandboxSpec spec, CancellationToken cancellationToken)
    {
        Created.Add(spec);
        if (Fail is { } e)
            throw e;
        return Task.FromResult<ISandbox>(Add(spec));
    }

    public Task<ExitStatus> RunAsync(SandboxSpec spec, ProcessSpec process, ProcessIO io, CancellationToken cancellationToken)
    {
        Ran.Add(spec);
        RanProcesses.Add(process);
        return Fail is { } e ? Task.FromException<ExitStatus>(e) : Task.FromResult(Status);
    }

    public Task<ISandbox> AttachAsync(SandboxId id, SandboxAttachment attachment, CancellationToken cancellationToken)
    {
        if (attachment.Tier != tier || attachment.Payload != id.Value)
            throw new SandboxException(SandboxErrorCode.InvalidArgument, $"attachment of {attachment.Tier} for {attachment.Payload}");
        if (!Attachable.Contains(id))
            throw new SandboxException(SandboxErrorCode.NotFound, $"sandbox {id} is gone");
        return Task.FromResult<ISandbox>(Add(new SandboxSpec { Id = id, DieWithOwner = false }));
    }

    /// <summary>When set, every new sandbox's WarmUpAsync throws it.</summary>
    public Exception? FailWarmUp { get; set; }

    private FakeSandbox Add(SandboxSpec spec)
    {
        var sandbox = new FakeSandbox(spec, tier, Status) { ThrowOnWarmUp = FailWarmUp, HoldExecs = HoldExecs };
        Live.Add(sandbox);
        return sandbox;
    }

    public IReadOnlyList<SandboxId> ListLeftovers() => [.. Leftovers];

    public Task<bool> ReclaimAsync(SandboxId id, CancellationToken cancellationToken)
    {
        Reclaimed.Add(id);
        return Task.FromResult(Leftovers.Remove(id));
    }

    public int RemoveStaleFiles(IReadOnlySet<SandboxId> keep) => 0;
}

internal sealed class FakeSandbox(SandboxSpec spec, SandboxTier tier, ExitStatus status, SandboxId? podHost = null) : ISandbox, IWarmUp, IPodHost
{
    /// <summary>The containers added to it as a pod's host (<see cref="IPodHost"/>).</summary>
    public List<FakeSandbox> Containers { get; } = [];

    public bool CanHostContainers => spec.HostsPod && !Disposed && !_terminated.Task.IsCompleted;

    public Task<ISandbox> AddContainerAsync(SandboxSpec containerSpec, CancellationToken cancellationToken)
    {
        if (!CanHostContainers)
            throw new SandboxException(SandboxErrorCode.FailedPrecondition, $"sandbox {spec.Id} does not host a pod");
        var container = new FakeSandbox(containerSpec, tier, status, spec.Id);
        Containers.Add(container);
        return Task.FromResult<ISandbox>(container);
    }

    /// <summary>How often a warm pool warmed it up (<see cref="IWarmUp"/>).</summary>
    public int WarmUps { get; private set; }

    /// <summary>When set, each exec runs until this task ends.</summary>
    public Task? HoldExecs { get; init; }

    /// <summary>When set, WarmUpAsync throws it.</summary>
    public Exception? ThrowOnWarmUp { get; set; }

    public Task WarmUpAsync(CancellationToken cancellationToken)
    {
        WarmUps++;
        return ThrowOnWarmUp is { } e ? Task.FromException(e) : Task.CompletedTask;
    }

    private readonly TaskCompletionSource<SandboxTermination> _terminated = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public SandboxInfo Info { get; } = new()
    {
        Id = spec.Id,
        Tier = tier,
        Namespaces = [],
        SyscallProfile = spec.SyscallProfile,
        SeccompDigest = "",
        Limits = spec.Limits,
        HostUid = -1,
        PodHost = podHost,
    };

    /// <summary>The id as payload: opaque to Core, checked by <see cref="FakeDriver.AttachAsync"/>.</summary>
    public SandboxAttachment? Attachment => spec.DieWithOwner ? null : new SandboxAttachment(tier, 1, spec.Id.Value);

    public Task<SandboxTermination> Terminated => _terminated.Task;

    public SandboxSpec Spec => spec;
    public bool Disposed { get; private set; }
    public bool Frozen { get; private set; }
    public Isolation.ResourceLimits? UpdatedLimits { get; private set; }
    public List<ProcessSpec> Execs { get; } = [];

    /// <summary>When set, DisposeAsync throws it (after marking the sandbox disposed).</summary>
    public Exception? ThrowOnDispose { get; set; }

    /// <summary>The sandbox dies on its own (bwrap or QEMU exited).</summary>
    public void Die(int exitStatus, string detail) =>
        _terminated.TrySetResult(new SandboxTermination(SandboxTerminationReason.ProcessExited, exitStatus, detail));

    public Task<ISandboxProcess> ExecAsync(ProcessSpec process, ProcessIO io, CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(Disposed, this);
        Execs.Add(process);
        return Task.FromResult<ISandboxProcess>(new FakeProcess(status, HoldExecs));
    }

    public Task SignalAsync(int signal, CancellationToken cancellationToken) => Task.CompletedTask;

    public Task PauseAsync(CancellationToken cancellationToken)
    {
        Frozen = true;
        return Task.CompletedTask;
    }

    public Task ResumeAsync(CancellationToken cancellationToken)
    {
        Frozen = false;
        return Task.CompletedTask;
    }

    public Task UpdateLimitsAsync(Isolation.ResourceLimits limits, CancellationToken cancellationToken)
    {
        UpdatedLimits = limits;
        return Task.CompletedTask;
    }

    public Task<byte[]> ReadFileAsync(string path, long maxBytes, CancellationToken cancellationToken) => Task.FromResult("content"u8.ToArray());

    public Task WriteFileAsync(string path, ReadOnlyMemory<byte> content, int mode, CancellationToken cancellationToken) => Task.CompletedTask;

    public Task<SandboxFileListing> ListFilesAsync(string path, int maxEntries, CancellationToken cancellationToken) =>
        Task.FromResult(new SandboxFileListing([], false));

    public Task<SandboxStats> GetStatsAsync(CancellationToken cancellationToken) => Task.FromResult(new SandboxStats(0, 0, TimeSpan.Zero, 0, 0));

    public Task<long> ReadFileToAsync(string path, Stream destination, long maxBytes, CancellationToken cancellationToken) => Task.FromResult(0L);

    public Task<long> WriteFileFromAsync(string path, Stream source, int mode, CancellationToken cancellationToken) => Task.FromResult(0L);

    public Task ExportDirectoryAsync(string path, Stream tarDestination, CancellationToken cancellationToken) => Task.CompletedTask;

    public Task ImportDirectoryAsync(string path, Stream tarSource, CancellationToken cancellationToken) => Task.CompletedTask;

    public ValueTask DisposeAsync()
    {
        Disposed = true;
        _terminated.TrySetResult(new SandboxTermination(SandboxTerminationReason.Disposed, null, "disposed"));
        return ThrowOnDispose is { } e ? ValueTask.FromException(e) : ValueTask.CompletedTask;
    }

    private sealed class FakeProcess(ExitStatus status, Task? hold) : ISandboxProcess
    {
        public int Pid => 2;
        public Task SignalAsync(int signal, CancellationToken cancellationToken) => Task.CompletedTask;
        public async Task<ExitStatus> WaitAsync(CancellationToken cancellationToken)
        {
            if (hold is not null)
                await hold.WaitAsync(cancellationToken).ConfigureAwait(false);
            return status;
        }
        public Task ResizeAsync(TerminalSize size, CancellationToken cancellationToken) => Task.CompletedTask;
    }
}
