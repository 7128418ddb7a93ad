using System.Runtime.InteropServices;
using Sandbox.Isolation.Interop;
using Sandbox.Isolation.Native;

namespace Sandbox.Isolation.Network;

/// <summary>A network namespace an orchestrator made and named by a path (containerd's CRI plugin: the
/// <c>/var/run/netns/cni-…</c> it bind-mounted and ran its CNI plugins in), joined by a sandbox instead of one of its
/// own (<see cref="SandboxSpec.NetworkOf"/>). Only a real one is accepted: the path itself must be a mount of the
/// namespace filesystem (opened with O_NOFOLLOW, so a symlink — to /proc/1/ns/net or anything else — is refused) of
/// type network, and never the host's own network namespace (this process's or PID 1's). Each open checks again and
/// must find the same namespace as <see cref="Open"/> did, so the path cannot be swapped between the check and the
/// join; nothing keeps a descriptor between opens (the orchestrator deletes the namespace when the pod ends).</summary>
public sealed class NetworkNamespaceFile : ISharedNetworkNamespace
{
    private NetworkNamespaceFile(string path, ulong device, ulong inode) => (Path, _device, _inode) = (path, device, inode);

    private readonly ulong _device;
    private readonly ulong _inode;

    public string Path { get; }

    /// <summary>Validates <paramref name="path"/> (InvalidArgument naming what it is instead; NotFound when absent).</summary>
    public static NetworkNamespaceFile Open(string path)
    {
        using var fd = OpenChecked(path, out var device, out var inode);
        return new NetworkNamespaceFile(path, device, inode);
    }

    public SafeHandle OpenNetworkNamespace()
    {
        var fd = OpenChecked(Path, out var device, out var inode);
        if (device != _device || inode != _inode)
        {
            fd.Dispose();
            throw new SandboxException(SandboxErrorCode.FailedPrecondition,
                $"network namespace {Path} is no longer the namespace that was checked (it was replaced)");
        }
        return fd;
    }

    private static unsafe FileDescriptor OpenChecked(string path, out ulong device, out ulong inode)
    {
        if (!System.IO.Path.IsPathFullyQualified(path) || path.Split('/').Any(s => s is "." or ".."))
            throw new SandboxException(SandboxErrorCode.InvalidArgument, $"network namespace path '{path}' must be absolute, without . or .. segments");
        var raw = Libc.Open(path, Libc.O_RDONLY | Libc.O_NOFOLLOW | Libc.O_CLOEXEC);
        if (raw < 0)
        {
            var errno = Errno.Last;
            throw errno switch
            {
                Errno.ENOENT => new SandboxException(SandboxErrorCode.NotFound, $"network namespace {path} does not exist"),
                Errno.ELOOP => new SandboxException(SandboxErrorCode.InvalidArgument,
                    $"network namespace path {path} is a symbolic link: name the namespace's own mount (e.g. /var/run/netns/NAME)"),
                _ => Errno.Fail($"open({path})"),
            };
        }
        var fd = new FileDescriptor(raw);
        try
        {
            var buffer = stackalloc byte[256];
            if (Libc.Fstatfs(raw, buffer) != 0)
                throw Errno.Fail($"fstatfs({path})");
            if (*(long*)buffer != Libc.NSFS_MAGIC)
                throw new SandboxException(SandboxErrorCode.InvalidArgument,
                    $"{path} is not a namespace (no nsfs mount there): name a network namespace the orchestrator mounted");
            var type = Libc.Ioctl(raw, Libc.NS_GET_NSTYPE);
            if (type != Libc.CLONE_NEWNET)
                throw new SandboxException(SandboxErrorCode.InvalidArgument, $"{path} is a namespace, but not a network namespace");
            (device, inode) = Identity(raw, path);
            foreach (var host in HostNamespaces)
            {
                var other = Libc.Open(host, Libc.O_RDONLY | Libc.O_CLOEXEC);
                if (other < 0)
                {
                    // PID 1's may be out of reach (EACCES: an engine confined below a more privileged init, as in a
                    // container); the engine's own namespace is always compared.
                    if (host != SelfNamespace)
                        continue;
                    throw Errno.Fail($"open({host})");
                }
                using var otherFd = new FileDescriptor(other);
                if (Identity(other, host) == (device, inode))
                    throw new SandboxException(SandboxErrorCode.PermissionDenied,
                        $"{path} is the host's own network namespace: a sandbox never joins it (host networking is not offered)");
            }
            return fd;
        }
        catch
        {
            fd.Dispose();
            throw;
        }
    }

    /// <summary>The host's network namespace as seen by init and by this process (the same on a normal host; a daemon
    /// started in another one must not hand its own to a sandbox either).</summary>
    private static readonly string[] HostNamespaces = ["/proc/1/ns/net", SelfNamespace];

    private const string SelfNamespace = "/proc/self/ns/net";

    private static unsafe (ulong Device, ulong Inode) Identity(int fd, string path)
    {
        var stat = stackalloc byte[256];
        if (Libc.Fstat(fd, stat) != 0)
            throw Errno.Fail($"fstat({path})");
        return (*(ulong*)stat, *(ulong*)(stat + 8));
    }
}
