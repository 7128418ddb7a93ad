namespace Sandbox.Isolation;

/// <summary>One isolation tier. Drivers supply the mechanism; validation of specs and the semantics of exit status
/// are shared so that both tiers behave alike.</summary>
public interface ISandboxDriver
{
    SandboxTier Tier { get; }

    /// <summary>What this driver's sandboxes can do beyond the basics.</summary>
    DriverCapabilities Capabilities { get; }

    /// <summary>Whether this tier can run here, and why not when it cannot. Asynchronous: deciding may need a probe
    /// boot (the microVM tier boots a guest under KVM to prove the accelerator works); the answer is cached.</summary>
    Task<DriverAvailability> ProbeAsync(CancellationToken cancellationToken);

    /// <summary>Creates a long-lived sandbox: exec many processes in it, read and write its files, then dispose it.</summary>
    Task<ISandbox> CreateAsync(SandboxSpec spec, CancellationToken cancellationToken);

    /// <summary>The one-shot path: create, run one process, tear down. Same results as Create + Exec + Dispose.</summary>
    Task<ExitStatus> RunAsync(SandboxSpec spec, ProcessSpec process, ProcessIO io, CancellationToken cancellationToken);

    /// <summary>Takes back a sandbox an earlier owner created with <see cref="SandboxSpec.DieWithOwner"/> = false, from
    /// the record that owner kept (<see cref="ISandbox.Attachment"/>). A record of another tier, or of a version this
    /// driver does not read, is refused (InvalidArgument / FailedPrecondition, naming both). Whatever is left of a
    /// sandbox that cannot be taken back (its process gone or replaced, its agent silent) is killed and removed, and a
    /// SandboxException NOT_FOUND / UNAVAILABLE says why. Needs <see cref="DriverCapabilities.Attach"/>.</summary>
    Task<ISandbox> AttachAsync(SandboxId id, SandboxAttachment attachment, CancellationToken cancellationToken);
}

public sealed record DriverAvailability(bool Available, string Detail, Accelerator Accelerator = Accelerator.None);
