using System.Runtime.InteropServices;

namespace Sandbox.Isolation.Interop;

internal static unsafe partial class Libc
{
    internal const int EPOLL_CLOEXEC = 0x80000;
    internal const int EPOLL_CTL_ADD = 1, EPOLL_CTL_DEL = 2;
    internal const uint EPOLLIN = 0x1;

    /// <summary>struct epoll_event is packed on x86_64: 4 bytes of events, then 8 bytes of data.</summary>
    [StructLayout(LayoutKind.Sequential, Pack = 1)]
    internal struct EpollEvent
    {
        public uint Events;
        public ulong Data;
    }

    [LibraryImport(Name, EntryPoint = "epoll_create1", SetLastError = true)]
    internal static partial int EpollCreate1(int flags);

    [LibraryImport(Name, EntryPoint = "epoll_ctl", SetLastError = true)]
    internal static partial int EpollCtl(int epfd, int op, int fd, EpollEvent* ev);

    [LibraryImport(Name, EntryPoint = "epoll_wait", SetLastError = true)]
    internal static partial int EpollWait(int epfd, EpollEvent* events, int maxEvents, int timeoutMs);
}
