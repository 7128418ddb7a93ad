using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace Sandbox.Ttrpc.Tests;

internal static partial class SocketPair
{
    [LibraryImport("libc", EntryPoint = "socketpair", SetLastError = true)]
    private static unsafe partial int socketpair(int domain, int type, int protocol, int* sv);

    /// <summary>A connected pair of unix stream sockets (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC) as NetworkStreams.</summary>
    public static unsafe (NetworkStream A, NetworkStream B) Create()
    {
        int* fds = stackalloc int[2];
        if (socketpair(1, 1 | 0x80000, 0, fds) != 0) throw new IOException("socketpair failed: errno " + Marshal.GetLastPInvokeError());
        return (Wrap(fds[0]), Wrap(fds[1]));
    }

    private static NetworkStream Wrap(int fd) => new(new Socket(new SafeSocketHandle(fd, ownsHandle: true)), ownsSocket: true);
}
