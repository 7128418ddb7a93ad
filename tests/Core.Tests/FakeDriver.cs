using Sandbox.Isolation;

namespace Sandbox.Core.Tests;

/// <summary>An ISandboxDriver that launches nothing: it records every spec it is given, and fails or answers as a test
/// tells it. Core is what these tests are about; the real drivers are tested against bwrap and QEMU elsewhere.</summary>
internal sealed class FakeDriver(SandboxTier tier, DriverAvailability? availability = null) : ISandboxDriver, ILeftoverReclaimer
{
    public SandboxTier Tier => tier;

    public List<SandboxSpec> Created { get; } = [];
    public List<SandboxSpec> Ran { get; } = [];
    public List<FakeSandbox> Live { get; } = [];
    public HashSet<SandboxId> Leftovers { get; } = [];
    public List<SandboxId> Reclaimed { get; } = [];

    /// <summary>When set, CreateAsync and RunAsync throw it.</summary>
    public Exception? Fail { get; set; }

    /// <summary>What RunAsync and every exec report.</summary>
    public ExitStatus Status { get; set; } = new() { ExitCode = 0 };

    public DriverAvailability Probe() => availability ?? new DriverAvailability(true, "fake", tier == SandboxTier.MicroVm ? Accelerator.Tcg : Accelerator.None);

    public Task<ISandbox> CreateAsync(SandboxSpec spec, CancellationToken cancellationToken)
    {
        Created.Add(spec);
        if (Fail is { } e)
            throw e;
        var sandbox = new FakeSandbox(spec, tier, Status);
        Live.Add(sandbox);
        return Task.FromResult<ISandbox>(sandbox);
    }

    public Task<ExitStatus> RunAsync(SandboxSpec spec, ProcessSpec process, ProcessIO io, CancellationToken cancellationToken)
    {
        Ran.Add(spec);
        return Fail is { } e ? Task.FromException<ExitStatus>(e) : Task.FromResult(Status);
    }

    public IReadOnlyList<SandboxId> ListLeftovers() => [.. Leftovers];

    public Task<bool> ReclaimAsync(SandboxId id, CancellationToken cancellationToken)
    {
        Reclaimed.Add(id);
        return Task.FromResult(Leftovers.Remove(id));
    }
}

internal sealed class FakeSandbox(SandboxSpec spec, SandboxTier tier, ExitStatus status) : ISandbox
{
    public SandboxInfo Info { get; } = new()
    {
        Id = spec.Id,
        Tier = tier,
        Namespaces = [],
        SyscallProfile = spec.SyscallProfile,
        SeccompDigest = "",
        Limits = spec.Limits,
        HostUid = -1,
    };

    public SandboxSpec Spec => spec;
    public bool Disposed { get; private set; }
    public List<ProcessSpec> Execs { get; } = [];

    public Task<ISandboxProcess> ExecAsync(ProcessSpec process, ProcessIO io, CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(Disposed, this);
        Execs.Add(process);
        return Task.FromResult<ISandboxProcess>(new FakeProcess(status));
    }

    public Task<byte[]> ReadFileAsync(string path, long maxBytes, CancellationToken cancellationToken) => Task.FromResult("content"u8.ToArray());

    public Task WriteFileAsync(string path, ReadOnlyMemory<byte> content, int mode, CancellationToken cancellationToken) => Task.CompletedTask;

    public Task<SandboxFileListing> ListFilesAsync(string path, int maxEntries, CancellationToken cancellationToken) =>
        Task.FromResult(new SandboxFileListing([], false));

    public Task<SandboxStats> GetStatsAsync(CancellationToken cancellationToken) => Task.FromResult(new SandboxStats(0, 0, TimeSpan.Zero, 0, 0));

    /// <summary>When set, DisposeAsync throws it (after marking the sandbox disposed).</summary>
    public Exception? ThrowOnDispose { get; set; }

    public ValueTask DisposeAsync()
    {
        Disposed = true;
        return ThrowOnDispose is { } e ? ValueTask.FromException(e) : ValueTask.CompletedTask;
    }

    private sealed class FakeProcess(ExitStatus status) : ISandboxProcess
    {
        public int Pid => 2;
        public Task SignalAsync(int signal, CancellationToken cancellationToken) => Task.CompletedTask;
        public Task<ExitStatus> WaitAsync(CancellationToken cancellationToken) => Task.FromResult(status);
    }
}
