namespace Sandbox.Isolation.MicroVm;

/// <summary>
/// The pod share of a VM that hosts a pod (<see cref="SandboxSpec.HostsPod"/>): QEMU's microvm machine has no hotplug,
/// so the roots of the pod's later containers cannot come as disks added later; they come as files through one
/// read-only virtio-9p export set up at boot, the directory <c>pod</c> in the VM's state directory (0700, the VM's
/// host uid's, inside its jail, removed with it). The host copies each container's erofs root image there
/// (<c>ID.erofs</c>, 0400, the VM's uid's, since QEMU's 9p server opens it as that uid) and the guest agent mounts it
/// through a read-only loop device. Nothing else of the host is in it.
/// </summary>
internal static class PodShare
{
    public const string Tag = "pod";
    public const string Directory = "pod";

    public static VirtioShare For(string stateDirectory) => new(Tag, Path.Combine(stateDirectory, Directory));

    /// <summary>The image's file name in the share, for a container id (<see cref="SandboxId"/>: [a-z0-9-]).</summary>
    public static string FileName(SandboxId container) => container.Value + ".erofs";
}
