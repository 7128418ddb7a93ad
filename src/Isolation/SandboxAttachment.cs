namespace Sandbox.Isolation;

/// <summary>
/// What an owner keeps (on disk) to take a sandbox back after it was restarted: the sandbox was created with
/// <see cref="SandboxSpec.DieWithOwner"/> = false, so it outlived the process that created it, and
/// <see cref="ISandboxDriver.AttachAsync"/> of the driver of <see cref="Tier"/> reconnects to it.
/// <see cref="Payload"/> is the driver's own JSON: opaque to every face, which stores and returns it unchanged.
/// <see cref="Version"/> is the payload's format: a driver refuses, with an error naming both versions, a record of a
/// version it does not read (a newer daemon upgrades an old one or says why it cannot).
/// </summary>
public sealed record SandboxAttachment(SandboxTier Tier, int Version, string Payload);
