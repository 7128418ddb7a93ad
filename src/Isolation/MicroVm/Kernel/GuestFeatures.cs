namespace Sandbox.Isolation.MicroVm.Kernel;

/// <summary>What a guest has that needs kernel modules Debian's kernel does not build in (<see cref="GuestKernel.ModulesFor"/>).</summary>
[Flags]
public enum GuestFeatures
{
    None = 0,
    /// <summary>virtio-9p shares (the host userland, a pod share).</summary>
    Shares = 1,
    /// <summary>A read-only root image (erofs) on virtio-blk.</summary>
    RootImage = 2,
    /// <summary>A writable overlay over the root image (an image root).</summary>
    WritableRoot = 4,
    /// <summary>virtio-net (network mode egress).</summary>
    Network = 8,
    /// <summary>A pod's later containers: erofs images on loop devices under overlays.</summary>
    Pod = 16,
}
