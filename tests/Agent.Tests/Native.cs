using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace Sandbox.Agent.Tests;

internal static partial class Native
{
    [LibraryImport("libc", EntryPoint = "socketpair", SetLastError = true)]
    private static unsafe partial int socketpair(int domain, int type, int protocol, int* sv);

    [LibraryImport("libc", EntryPoint = "fcntl", SetLastError = true)]
    private static partial int fcntl(int fd, int cmd, int arg);

    [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
    internal static partial int close(int fd);

    /// <summary>AF_UNIX stream socketpair, both ends CLOEXEC; optionally clears CLOEXEC on the second (to hand it to a child).</summary>
    public static unsafe (int A, int B) SocketPair(bool inheritB = false)
    {
        int* fds = stackalloc int[2];
        if (socketpair(1, 1 | 0x80000, 0, fds) != 0) throw new IOException("socketpair: errno " + Marshal.GetLastPInvokeError());
        if (inheritB && fcntl(fds[1], 2 /* F_SETFD */, 0) != 0) throw new IOException("fcntl: errno " + Marshal.GetLastPInvokeError());
        return (fds[0], fds[1]);
    }

    public static NetworkStream Stream(int fd) => new(new Socket(new SafeSocketHandle(fd, ownsHandle: true)), ownsSocket: true);
}
