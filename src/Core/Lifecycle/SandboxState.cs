namespace Sandbox.Core;

/// <summary>Where a long-lived sandbox is in its life. The allowed moves between states are in
/// <see cref="SandboxLifecycle"/>; nothing else changes a state.</summary>
public enum SandboxState
{
    /// <summary>Admitted (policy, quota) and being launched by its driver.</summary>
    Creating,
    /// <summary>Launched; processes can be started and files read and written.</summary>
    Running,
    /// <summary>Frozen by its owner (its processes do not run); resume to use it again.</summary>
    Paused,
    /// <summary>Being torn down (deleted, expired, or its owner is shutting down).</summary>
    Stopping,
    /// <summary>Its driver reported it dead (bwrap or QEMU exited): nothing runs in it any more; only delete.</summary>
    Exited,
    /// <summary>It may still run but cannot be controlled (its agent stopped answering): only delete.</summary>
    Broken,
    /// <summary>Gone: every host resource released. Terminal.</summary>
    Deleted,
}
