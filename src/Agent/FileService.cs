using System.Runtime.InteropServices;
using System.Text;
using Google.Protobuf;
using Sandbox.Agent.Interop;
using Sandbox.AgentProtocol.V1;
using Sandbox.Ttrpc;

namespace Sandbox.Agent;

/// <summary>
/// ReadFile / WriteFile / ListDir confined to a root directory: every path is resolved with openat2 against a dirfd on the root
/// with RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS, so "..", absolute symlinks and /proc magic links cannot leave it.
/// </summary>
internal sealed unsafe class FileService : IDisposable
{
    public const int MaxChunk = 1 << 20;
    public const int MaxPathBytes = 4096;
    public const int MaxDirEntries = 10000;
    private const int MaxNameBytes = 255;
    private const int DirBufferBytes = 32 * 1024;

    private readonly int _rootFd;

    public FileService(string root)
    {
        int fd = NativeStrings.With(root, p => Libc.open((byte*)p, Libc.O_PATH | Libc.O_DIRECTORY | Libc.O_CLOEXEC, 0));
        if (fd < 0) throw new IOException($"open root {root}: {Errno.Name(Marshal.GetLastPInvokeError())}");
        _rootFd = fd;
    }

    public static void ValidatePath(string path)
    {
        if (path.Length == 0 || path[0] != '/') throw new TtrpcException(StatusCode.InvalidArgument, "path must be absolute");
        if (path.Contains('\0')) throw new TtrpcException(StatusCode.InvalidArgument, "path contains NUL");
        if (Encoding.UTF8.GetByteCount(path) > MaxPathBytes) throw new TtrpcException(StatusCode.InvalidArgument, "path longer than 4096 bytes");
    }

    private int OpenInRoot(string path, int flags, uint mode)
    {
        ValidatePath(path);
        var how = new Libc.OpenHow
        {
            Flags = (ulong)(uint)flags,
            Mode = (flags & Libc.O_CREAT) != 0 ? mode : 0,
            Resolve = Libc.RESOLVE_IN_ROOT | Libc.RESOLVE_NO_MAGICLINKS,
        };
        using var strings = new NativeStrings();
        byte* nativePath = strings.Add(path);
        while (true)
        {
            long fd = Libc.syscall_openat2(Libc.SYS_openat2, _rootFd, nativePath, &how, (nuint)sizeof(Libc.OpenHow));
            if (fd >= 0) return (int)fd;
            int errno = Marshal.GetLastPInvokeError();
            if (errno is Errno.EINTR or Errno.EAGAIN) continue; // EAGAIN: a concurrent rename raced RESOLVE_IN_ROOT; retry
            if (errno == Errno.ENOSYS)
                throw new TtrpcException(StatusCode.Unimplemented, "openat2 is not available (needs Linux 5.6+); file access is refused rather than done unconfined");
            throw Fail(path, errno);
        }
    }

    private static TtrpcException Fail(string path, int errno)
    {
        var code = errno switch
        {
            Errno.ENOENT or Errno.ENOTDIR => StatusCode.NotFound,
            Errno.EACCES or Errno.EPERM or Errno.EXDEV or Errno.EROFS => StatusCode.PermissionDenied,
            Errno.ELOOP or Errno.EISDIR or Errno.ETXTBSY => StatusCode.FailedPrecondition,
            Errno.ENOSPC or Errno.EDQUOT or Errno.EFBIG or Errno.EMFILE or Errno.ENOMEM => StatusCode.ResourceExhausted,
            Errno.EINVAL or Errno.ENAMETOOLONG => StatusCode.InvalidArgument,
            _ => StatusCode.Internal,
        };
        return new TtrpcException(code, $"{path}: {Errno.Name(errno)}");
    }

    private static (int Mode, long Size) Stat(int fd, string path)
    {
        byte* buf = stackalloc byte[Libc.StatxSize];
        byte empty = 0;
        if (Libc.statx(fd, &empty, Libc.AT_EMPTY_PATH, Libc.STATX_TYPE | Libc.STATX_SIZE, buf) != 0)
            throw Fail(path, Marshal.GetLastPInvokeError());
        return (*(ushort*)(buf + Libc.StatxModeOffset), *(long*)(buf + Libc.StatxSizeOffset));
    }

    public ReadFileResponse Read(ReadFileRequest request)
    {
        if (request.Offset < 0) throw new TtrpcException(StatusCode.InvalidArgument, "offset must be >= 0");
        int max = request.MaxBytes == 0 || request.MaxBytes > MaxChunk ? MaxChunk : (int)request.MaxBytes;
        int fd = OpenInRoot(request.Path, Libc.O_RDONLY | Libc.O_CLOEXEC | Libc.O_NOCTTY | Libc.O_NONBLOCK, 0);
        try
        {
            var (mode, size) = Stat(fd, request.Path);
            if ((mode & Libc.S_IFMT) != Libc.S_IFREG) throw new TtrpcException(StatusCode.FailedPrecondition, $"{request.Path}: not a regular file");
            var data = new byte[(int)Math.Min(max, Math.Max(0, size - request.Offset))];
            int got = 0;
            while (got < data.Length)
            {
                nint n;
                fixed (byte* p = data) n = Libc.pread(fd, p + got, (nuint)(data.Length - got), request.Offset + got);
                if (n < 0)
                {
                    int errno = Marshal.GetLastPInvokeError();
                    if (errno == Errno.EINTR) continue;
                    throw Fail(request.Path, errno);
                }
                if (n == 0) break;
                got += (int)n;
            }
            return new ReadFileResponse
            {
                Data = UnsafeByteOperations.UnsafeWrap(data.AsMemory(0, got)),
                Eof = request.Offset + got >= size,
                Size = size,
            };
        }
        finally
        {
            Libc.close(fd);
        }
    }

    public void Write(WriteFileRequest request)
    {
        if (request.Offset < 0) throw new TtrpcException(StatusCode.InvalidArgument, "offset must be >= 0");
        if (request.Data.Length > MaxChunk) throw new TtrpcException(StatusCode.InvalidArgument, "data larger than 1 MiB");
        uint mode = request.Mode == 0 ? 0x1a4u /* 0644 */ : request.Mode & 0x1ff /* 0777: no setuid/setgid/sticky */;
        int fd = OpenInRoot(request.Path, Libc.O_WRONLY | Libc.O_CREAT | Libc.O_NOFOLLOW | Libc.O_CLOEXEC | Libc.O_NOCTTY | Libc.O_NONBLOCK, mode);
        try
        {
            var (fileMode, _) = Stat(fd, request.Path);
            if ((fileMode & Libc.S_IFMT) != Libc.S_IFREG) throw new TtrpcException(StatusCode.FailedPrecondition, $"{request.Path}: not a regular file");
            var span = request.Data.Span;
            int done = 0;
            fixed (byte* p = span)
            {
                while (done < span.Length)
                {
                    nint n = Libc.pwrite(fd, p + done, (nuint)(span.Length - done), request.Offset + done);
                    if (n < 0)
                    {
                        int errno = Marshal.GetLastPInvokeError();
                        if (errno == Errno.EINTR) continue;
                        throw Fail(request.Path, errno);
                    }
                    done += (int)n;
                }
            }
            if (request.Truncate && Libc.ftruncate(fd, request.Offset + span.Length) != 0)
                throw Fail(request.Path, Marshal.GetLastPInvokeError());
        }
        finally
        {
            Libc.close(fd);
        }
    }

    /// <summary>Creates one directory: its parent is opened confined (openat2 in the root), the new name is a single
    /// component made with mkdirat against it, so nothing outside the root can be reached. An existing directory is
    /// success when <c>exist_ok</c>.</summary>
    public void MakeDir(MakeDirRequest request)
    {
        ValidatePath(request.Path);
        var trimmed = request.Path.TrimEnd('/');
        int slash = trimmed.LastIndexOf('/');
        var name = slash < 0 ? "" : trimmed[(slash + 1)..];
        if (name is "" or "." or "..") throw new TtrpcException(StatusCode.InvalidArgument, $"{request.Path}: must end in a directory name");
        var parent = slash == 0 ? "/" : trimmed[..slash];
        uint mode = request.Mode == 0 ? 0x1edu /* 0755 */ : request.Mode & 0x1ff;
        int dirFd = OpenInRoot(parent, Libc.O_PATH | Libc.O_DIRECTORY | Libc.O_CLOEXEC, 0);
        try
        {
            using var strings = new NativeStrings();
            if (Libc.mkdirat(dirFd, strings.Add(name), mode) == 0) return;
            int errno = Marshal.GetLastPInvokeError();
            if (errno != Errno.EEXIST) throw Fail(request.Path, errno);
            if (!request.ExistOk) throw new TtrpcException(StatusCode.AlreadyExists, $"{request.Path}: exists");
            int existing = OpenInRoot(request.Path, Libc.O_PATH | Libc.O_DIRECTORY | Libc.O_NOFOLLOW | Libc.O_CLOEXEC, 0);
            Libc.close(existing);
        }
        finally
        {
            Libc.close(dirFd);
        }
    }

    /// <summary>
    /// The entries of one directory, opened like ReadFile (openat2 in the root, O_DIRECTORY) and read with getdents64.
    /// Each entry is stat'ed relative to the directory fd with AT_SYMLINK_NOFOLLOW: symlinks are reported, not followed.
    /// </summary>
    public ListDirResponse List(ListDirRequest request)
    {
        if (request.MaxEntries > MaxDirEntries) throw new TtrpcException(StatusCode.InvalidArgument, $"max_entries must be at most {MaxDirEntries}");
        int max = request.MaxEntries == 0 ? MaxDirEntries : (int)request.MaxEntries;
        int fd = OpenInRoot(request.Path, Libc.O_RDONLY | Libc.O_DIRECTORY | Libc.O_CLOEXEC | Libc.O_NOCTTY | Libc.O_NONBLOCK, 0);
        var buffer = (byte*)NativeMemory.Alloc(DirBufferBytes);
        try
        {
            var response = new ListDirResponse();
            while (true)
            {
                nint n = Libc.getdents64(fd, buffer, DirBufferBytes);
                if (n < 0)
                {
                    int errno = Marshal.GetLastPInvokeError();
                    if (errno == Errno.EINTR) continue;
                    throw Fail(request.Path, errno);
                }
                if (n == 0) return response;
                for (nint offset = 0; offset < n;)
                {
                    byte* record = buffer + offset;
                    offset += *(ushort*)(record + Libc.Dirent64ReclenOffset);
                    byte* name = record + Libc.Dirent64NameOffset;
                    var nameBytes = MemoryMarshal.CreateReadOnlySpanFromNullTerminated(name);
                    if (nameBytes.Length == 0 || nameBytes.Length > MaxNameBytes || nameBytes.SequenceEqual("."u8) || nameBytes.SequenceEqual(".."u8))
                        continue;
                    if (response.Entries.Count == max)
                    {
                        response.Truncated = true;
                        return response;
                    }
                    if (StatEntry(fd, name, nameBytes, request.Path) is { } entry) response.Entries.Add(entry);
                }
            }
        }
        finally
        {
            NativeMemory.Free(buffer);
            Libc.close(fd);
        }
    }

    private static DirEntry? StatEntry(int dirFd, byte* name, ReadOnlySpan<byte> nameBytes, string dirPath)
    {
        byte* buf = stackalloc byte[Libc.StatxSize];
        if (Libc.statx(dirFd, name, Libc.AT_SYMLINK_NOFOLLOW | Libc.AT_NO_AUTOMOUNT,
                Libc.STATX_TYPE | Libc.STATX_MODE | Libc.STATX_SIZE | Libc.STATX_MTIME, buf) != 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            if (errno == Errno.ENOENT) return null; // removed since getdents64 saw it
            throw Fail(dirPath, errno);
        }
        int mode = *(ushort*)(buf + Libc.StatxModeOffset);
        var entry = new DirEntry
        {
            Name = Encoding.UTF8.GetString(nameBytes),
            Type = (mode & Libc.S_IFMT) switch
            {
                Libc.S_IFREG => DirEntryType.File,
                Libc.S_IFDIR => DirEntryType.Dir,
                Libc.S_IFLNK => DirEntryType.Symlink,
                _ => DirEntryType.Other,
            },
            Size = Math.Max(0, *(long*)(buf + Libc.StatxSizeOffset)),
            Mode = (uint)(mode & 0xfff),
            MtimeUnixNs = *(long*)(buf + Libc.StatxMtimeOffset) * 1_000_000_000L + *(uint*)(buf + Libc.StatxMtimeOffset + 8),
        };
        if (entry.Type == DirEntryType.Symlink)
        {
            byte* target = stackalloc byte[MaxPathBytes];
            nint len = Libc.readlinkat(dirFd, name, target, MaxPathBytes);
            if (len >= 0) entry.SymlinkTarget = Encoding.UTF8.GetString(target, (int)len);
        }
        return entry;
    }

    public void Dispose() => Libc.close(_rootFd);
}
