using System.Security.Cryptography;
using System.Text;
using Sandbox.AgentProtocol.V1;

namespace Sandbox.Isolation.MicroVm;

/// <summary>
/// What the guest sees as its root, from a <see cref="RootfsSpec"/>, as virtio-9p shares plus the SetupGuest request
/// that assembles them inside the guest.
/// - host: one read-only share per real top-level userland directory (usr, opt, ...; Debian's /bin, /lib, /lib64,
///   /sbin are symlinks into /usr and are recreated as such) and one share of a prepared /etc directory holding only
///   the entries the container tier shows plus a generated passwd and group (cached under CacheDirectory/guest-etc by
///   digest). Nothing else of the host is exported.
/// - directory: the directory as a read-only erofs image on a virtio-blk disk (<see cref="RootfsImage"/>), each
///   top-level entry bound into place (files included; a directory holding the work dir one level down); no 9p.
/// - image: the same erofs disk, under an overlay in the guest whose upper is a tmpfs capped at the disk size (the
///   container tier's overlay, made by the guest agent: <c>writable_overlay</c>), so root inside can install packages.
/// Writable: /tmp and the work dir, size-capped tmpfs, as in the container tier.
/// </summary>
internal static class GuestRootfs
{
    private static readonly HashSet<string> s_provided = ["proc", "dev", "tmp", "run", "sys"];

    public sealed record Layout(IReadOnlyList<VirtioShare> Shares, IReadOnlyList<GuestMount> Mounts, IReadOnlyList<GuestSymlink> Symlinks,
        RootfsImage.Image? Image = null, bool WritableImage = false)
    {
        /// <summary>The image's disk as the guest is told to find it (by serial) and mount it (under the tag "root"),
        /// under a writable overlay for an image root.</summary>
        public IReadOnlyList<GuestBlockDevice> BlockDevices => Image is null ? []
            : [new GuestBlockDevice { Tag = ImageTag, Serial = Image.Serial, FsType = "erofs", WritableOverlay = WritableImage }];

        public RootImage? RootImage => Image is null ? null : new RootImage(Image.Serial);

        /// <summary>What of this root needs kernel modules in the guest (<see cref="Kernel.GuestKernel.ModulesFor"/>).</summary>
        public Kernel.GuestFeatures Features =>
            (Shares.Count > 0 ? Kernel.GuestFeatures.Shares : 0) |
            (Image is null ? 0 : Kernel.GuestFeatures.RootImage) |
            (WritableImage ? Kernel.GuestFeatures.WritableRoot : 0);
    }

    private const string ImageTag = "root";

    public static Layout Build(RootfsSpec rootfs, string workDir, int uid, string cacheDirectory, string mkfsErofsPath)
    {
        RootfsImage.Image? image = null;
        var shares = new List<VirtioShare>();
        var mounts = new List<GuestMount>();
        var symlinks = new List<GuestSymlink>();
        switch (rootfs)
        {
            case HostRootfs:
                foreach (var name in HostUserland.TopLevel)
                {
                    var path = Path.Combine("/", name);
                    var info = new DirectoryInfo(path);
                    if (info.LinkTarget is { } target)
                        symlinks.Add(new GuestSymlink { Target = target, Path = "/" + name });
                    else if (info.Exists)
                    {
                        shares.Add(new VirtioShare(name, path));
                        mounts.Add(new GuestMount { Tag = name, Path = "/" + name });
                    }
                }
                shares.Add(new VirtioShare("etc", HostUserland.PrepareEtc(cacheDirectory, uid, workDir)));
                mounts.Add(new GuestMount { Tag = "etc", Path = "/etc" });
                break;
            // An image's root (its unpacked lower directory) becomes an erofs disk like any directory, keyed by the
            // store's chain id (an unpacked root never changes) instead of a walk of its tree; writes go to the tmpfs
            // mounts and, for an image, to the overlay's upper in the guest.
            case DirectoryRootfs or ImageRootfs:
                var rootPath = rootfs is ImageRootfs imageRoot ? imageRoot.LowerDirectory : ((DirectoryRootfs)rootfs).Path;
                image = RootfsImage.GetOrBuild(cacheDirectory, rootPath, mkfsErofsPath, (rootfs as ImageRootfs)?.Key);
                foreach (var entry in Images.ImageRootEntries.Enumerate(rootPath, workDir, s_provided))
                {
                    if (entry.LinkTarget is { } target)
                        symlinks.Add(new GuestSymlink { Target = target, Path = "/" + entry.Path });
                    else
                        mounts.Add(new GuestMount { Tag = ImageTag, Path = "/" + entry.Path, Subpath = entry.Path });
                }
                break;
            default:
                throw new SandboxException(SandboxErrorCode.Unimplemented, $"rootfs kind {rootfs.GetType().Name} is not supported by the microVM tier");
        }
        return new Layout(shares, mounts, symlinks, image, rootfs is ImageRootfs);
    }
}
