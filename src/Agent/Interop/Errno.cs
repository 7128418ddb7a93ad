namespace Sandbox.Agent.Interop;

/// <summary>The errno values the agent looks at (Linux generic numbering, x86_64 and aarch64 alike).</summary>
internal static class Errno
{
    internal const int EPERM = 1, ENOENT = 2, ESRCH = 3, EINTR = 4, EIO = 5, EBADF = 9, ECHILD = 10, EAGAIN = 11,
        ENOMEM = 12, EACCES = 13, EEXIST = 17, EXDEV = 18, ENOTDIR = 20, EISDIR = 21, EINVAL = 22, EMFILE = 24,
        ETXTBSY = 26, EFBIG = 27, ENOSPC = 28, EROFS = 30, EPIPE = 32, ENAMETOOLONG = 36, ENOSYS = 38, ELOOP = 40,
        ENOEXEC = 8, E2BIG = 7, EDQUOT = 122;

    internal static string Name(int errno) => errno switch
    {
        EPERM => "EPERM: operation not permitted",
        ENOENT => "ENOENT: no such file or directory",
        ESRCH => "ESRCH: no such process",
        EINTR => "EINTR",
        EIO => "EIO: input/output error",
        E2BIG => "E2BIG: argument list too long",
        ENOEXEC => "ENOEXEC: exec format error",
        EBADF => "EBADF",
        ECHILD => "ECHILD",
        EAGAIN => "EAGAIN: resource temporarily unavailable",
        ENOMEM => "ENOMEM: out of memory",
        EACCES => "EACCES: permission denied",
        EEXIST => "EEXIST: file exists",
        EXDEV => "EXDEV: path escapes the root",
        ENOTDIR => "ENOTDIR: not a directory",
        EISDIR => "EISDIR: is a directory",
        EINVAL => "EINVAL: invalid argument",
        EMFILE => "EMFILE: too many open files",
        ETXTBSY => "ETXTBSY: text file busy",
        EFBIG => "EFBIG: file too large",
        ENOSPC => "ENOSPC: no space left on device",
        EROFS => "EROFS: read-only file system",
        EPIPE => "EPIPE: broken pipe",
        ENAMETOOLONG => "ENAMETOOLONG: file name too long",
        ENOSYS => "ENOSYS: function not implemented",
        ELOOP => "ELOOP: too many levels of symbolic links (or a symlink where none is allowed)",
        EDQUOT => "EDQUOT: disk quota exceeded",
        _ => "errno " + errno,
    };
}
