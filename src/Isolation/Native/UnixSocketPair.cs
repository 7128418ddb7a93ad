using System.Net.Sockets;
using Sandbox.Isolation.Interop;

namespace Sandbox.Isolation.Native;

/// <summary>A connected AF_UNIX stream pair, both ends close-on-exec. One end stays here as an async
/// <see cref="Socket"/> (epoll-driven, no blocked threads); the other is handed to a child by dup2 in
/// <see cref="NativeSpawn"/> and closed here right after the spawn. Stdio of sandboxed processes uses these rather
/// than pipes so that .NET can await them.</summary>
internal static unsafe class UnixSocketPair
{
    public static (Socket Local, FileDescriptor Remote) Create()
    {
        int* fds = stackalloc int[2];
        if (Libc.SocketPair(Libc.AF_UNIX, Libc.SOCK_STREAM | Libc.SOCK_CLOEXEC, 0, fds) != 0)
            throw Errno.Fail("socketpair(AF_UNIX)");
        Socket local;
        try
        {
            local = new Socket(new SafeSocketHandle(fds[0], ownsHandle: true));
        }
        catch
        {
            Libc.Close(fds[0]);
            Libc.Close(fds[1]);
            throw;
        }
        return (local, new FileDescriptor(fds[1]));
    }
}
