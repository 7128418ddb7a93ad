namespace Sandbox.Isolation;

/// <summary>One isolation tier. Drivers supply the mechanism; validation of specs and the semantics of exit status
/// are shared so that both tiers behave alike.</summary>
public interface ISandboxDriver
{
    SandboxTier Tier { get; }

    /// <summary>Whether this tier can run here, and why not when it cannot.</summary>
    DriverAvailability Probe();

    /// <summary>Creates a long-lived sandbox: exec many processes in it, read and write its files, then dispose it.</summary>
    Task<ISandbox> CreateAsync(SandboxSpec spec, CancellationToken cancellationToken);

    /// <summary>The one-shot path: create, run one process, tear down. Same results as Create + Exec + Dispose.</summary>
    Task<ExitStatus> RunAsync(SandboxSpec spec, ProcessSpec process, ProcessIO io, CancellationToken cancellationToken);
}

public sealed record DriverAvailability(bool Available, string Detail, Accelerator Accelerator = Accelerator.None);
