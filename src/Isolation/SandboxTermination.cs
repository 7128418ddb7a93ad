namespace Sandbox.Isolation;

/// <summary>Why a sandbox ended.</summary>
public enum SandboxTerminationReason
{
    /// <summary>Its owner disposed it.</summary>
    Disposed,

    /// <summary>Its supervising host process (bwrap, QEMU) exited on its own: the workload or the agent ended it, the
    /// guest kernel panicked, or something outside killed it.</summary>
    ProcessExited,
}

/// <summary>How a sandbox ended (<see cref="ISandbox.Terminated"/>). <see cref="ExitStatus"/> is the supervising
/// process's status (exit code, or 128 + signal) when known; <see cref="Detail"/> says what happened, in words
/// (for a microVM, with the tail of its console).</summary>
public sealed record SandboxTermination(SandboxTerminationReason Reason, int? ExitStatus, string Detail);
