using Sandbox.Isolation.Interop;

namespace Sandbox.Isolation.Agent;

/// <summary>
/// A program the host runs as root must be one only root can replace: the file and every directory on its resolved
/// path are owned by root and writable by nobody else (a directory writable by others only with the sticky bit, as
/// /tmp, where no one may rename or remove root's entries). The launch helper is such a program, and it lives in the
/// agent bundle, a directory an operator or a test points at (<see cref="AgentBundle"/>): a bundle others could write
/// would hand them host root on the next sandbox's launch. Checked only when this process is root.
/// </summary>
internal static class RootOwnedProgram
{
    private const int O_PATH = 0x200000, O_NOFOLLOW = 0x20000;
    private const uint S_IFMT = 0xF000, S_IFDIR = 0x4000, S_IFREG = 0x8000, S_ISVTX = 0x200, GroupOrOtherWrite = 0x12;

    public static string Check(string path)
    {
        if (Libc.GetEUid() != 0)
            return path;
        var resolved = RealPath(path);
        var (mode, uid) = Stat(resolved);
        if ((mode & S_IFMT) != S_IFREG)
            throw Refused(path, resolved, "is not a regular file");
        if (uid != 0 || (mode & GroupOrOtherWrite) != 0)
            throw Refused(path, resolved, $"is owned by uid {uid} with mode {Convert.ToString(mode & 0xFFF, 8)}");
        for (var dir = Path.GetDirectoryName(resolved); dir is not null; dir = Path.GetDirectoryName(dir))
        {
            var (dirMode, dirUid) = Stat(dir);
            if ((dirMode & S_IFMT) != S_IFDIR)
                throw Refused(path, dir, "is not a directory (a symbolic link on the way)");
            if (dirUid != 0 || ((dirMode & GroupOrOtherWrite) != 0 && (dirMode & S_ISVTX) == 0))
                throw Refused(path, dir, $"is owned by uid {dirUid} with mode {Convert.ToString(dirMode & 0xFFF, 8)}");
        }
        return resolved;
    }

    private static SandboxException Refused(string program, string what, string why) =>
        new(SandboxErrorCode.FailedPrecondition,
            $"{program} runs as root, so it and every directory above it must be owned by root and writable by no one else: {what} {why}");

    /// <summary>The path with every symbolic link resolved (as the kernel found it: /proc/self/fd's link), so that each
    /// component checked is the real directory, not a link to one.</summary>
    private static string RealPath(string path)
    {
        var fd = Libc.Open(path, O_PATH | Libc.O_CLOEXEC);
        if (fd < 0)
            throw Errno.Fail($"open({path})");
        try
        {
            return new FileInfo($"/proc/self/fd/{fd}").LinkTarget ?? throw new SandboxException(SandboxErrorCode.Internal, $"no path for {path}");
        }
        finally
        {
            Libc.Close(fd);
        }
    }

    /// <summary>lstat by an O_PATH|O_NOFOLLOW descriptor: (st_mode, st_uid), x86_64 layout (bytes 24 and 28).</summary>
    private static unsafe (uint Mode, uint Uid) Stat(string path)
    {
        var fd = Libc.Open(path, O_PATH | O_NOFOLLOW | Libc.O_CLOEXEC);
        if (fd < 0)
            throw Errno.Fail($"open({path})");
        try
        {
            var stat = stackalloc byte[256];
            if (Libc.Fstat(fd, stat) != 0)
                throw Errno.Fail($"fstat({path})");
            return (*(uint*)(stat + 24), *(uint*)(stat + 28));
        }
        finally
        {
            Libc.Close(fd);
        }
    }
}
