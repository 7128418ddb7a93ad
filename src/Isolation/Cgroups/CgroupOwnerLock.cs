using Sandbox.Isolation.Interop;

namespace Sandbox.Isolation.Cgroups;

/// <summary>Who owns a sandbox's cgroup: the owning process holds an exclusive flock on the cgroup's directory for as
/// long as it uses it. The kernel drops the lock when that process dies, however it dies (kill -9 included), so the
/// janitor can tell a cgroup whose owner is dead (lock free) from one that a live process is setting up or using
/// (lock held) without guessing from ages or pids. The descriptor is close-on-exec: bwrap and the sandbox never hold
/// it.</summary>
internal sealed class CgroupOwnerLock : IDisposable
{
    private int _fd;

    private CgroupOwnerLock(int fd) => _fd = fd;

    /// <summary>Takes the lock, waiting while a janitor holds it for an instant; throws when the directory is gone (a
    /// janitor removed it between mkdir and this call).</summary>
    public static CgroupOwnerLock Take(string directory)
    {
        var fd = OpenDirectory(directory) ?? throw Vanished(directory);
        if (Libc.Flock(fd, Libc.LOCK_EX) != 0)
        {
            var errno = Errno.Last;
            Libc.Close(fd);
            throw new SandboxException(SandboxErrorCode.Internal, $"cannot lock cgroup {directory}: {CgroupFiles.Describe(errno)}");
        }
        if (!Directory.Exists(directory))
        {
            Libc.Close(fd);
            throw Vanished(directory);
        }
        return new CgroupOwnerLock(fd);
    }

    /// <summary>The lock when no live process holds it, or null (owner alive, or the directory is gone).</summary>
    public static CgroupOwnerLock? TryTake(string directory)
    {
        if (OpenDirectory(directory) is not { } fd)
            return null;
        if (Libc.Flock(fd, Libc.LOCK_EX | Libc.LOCK_NB) != 0 || !Directory.Exists(directory))
        {
            Libc.Close(fd);
            return null;
        }
        return new CgroupOwnerLock(fd);
    }

    private static int? OpenDirectory(string directory)
    {
        var fd = Libc.Open(directory, Libc.O_RDONLY | Libc.O_DIRECTORY | Libc.O_CLOEXEC);
        return fd >= 0 ? fd : null;
    }

    private static SandboxException Vanished(string directory) =>
        new(SandboxErrorCode.Unavailable, $"cgroup {directory} was removed while it was being set up (a concurrent clean-up); try again");

    public void Dispose()
    {
        var fd = Interlocked.Exchange(ref _fd, -1);
        if (fd >= 0)
            Libc.Close(fd);
    }
}
