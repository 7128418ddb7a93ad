namespace Sandbox.Isolation;

/// <summary>The isolation tier: a namespace container on the host kernel, or a microVM with its own kernel.</summary>
public enum SandboxTier
{
    Container,
    MicroVm,
}

/// <summary>How a microVM's CPU is virtualized. Containers report <see cref="None"/>.</summary>
public enum Accelerator
{
    None,
    Kvm,
    Tcg,
}
