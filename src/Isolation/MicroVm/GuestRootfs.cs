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
/// - directory: the directory as one share, each top-level entry bound into place (files included).
/// Writable: /tmp and the work dir, size-capped tmpfs, as in the container tier.
/// </summary>
internal static class GuestRootfs
{
    private static readonly HashSet<string> s_provided = ["proc", "dev", "tmp", "run", "sys"];

    public sealed record Layout(IReadOnlyList<VirtioShare> Shares, IReadOnlyList<GuestMount> Mounts, IReadOnlyList<GuestSymlink> Symlinks);

    public static Layout Build(RootfsSpec rootfs, string workDir, int uid, string cacheDirectory)
    {
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
            // An image's root is shared read-only like a directory (writes go to the tmpfs mounts); a read-only
            // block image built from it, cached by ImageRootfs.Key, is the microVM tier's next step.
            case DirectoryRootfs or ImageRootfs:
                var rootPath = rootfs is ImageRootfs image ? image.LowerDirectory : ((DirectoryRootfs)rootfs).Path;
                shares.Add(new VirtioShare("root", rootPath));
                foreach (var entry in new DirectoryInfo(rootPath).EnumerateFileSystemInfos())
                {
                    if (s_provided.Contains(entry.Name) || entry.Name == workDir.TrimStart('/'))
                        continue;
                    if (entry.LinkTarget is { } target)
                        symlinks.Add(new GuestSymlink { Target = target, Path = "/" + entry.Name });
                    else
                        mounts.Add(new GuestMount { Tag = "root", Path = "/" + entry.Name, Subpath = entry.Name });
                }
                break;
            default:
                throw new SandboxException(SandboxErrorCode.Unimplemented, $"rootfs kind {rootfs.GetType().Name} is not supported by the microVM tier");
        }
        return new Layout(shares, mounts, symlinks);
    }
}
