using System.Runtime.InteropServices;

namespace Sandbox.Isolation.Interop;

internal static partial class Libc
{
    /// <summary>_IOW('T', 202, int): attaches a /dev/net/tun descriptor to a new (or named) tun/tap device.</summary>
    internal const ulong TUNSETIFF = 0x400454ca;
    internal const short IFF_TAP = 0x0002;
    internal const short IFF_NO_PI = 0x1000;

    /// <summary>struct ifreq as TUNSETIFF reads it: the name, then the flags (the union's first member).</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal unsafe struct IfReqFlags
    {
        public fixed byte Name[16];
        public short Flags;
        private fixed byte _pad[22];
    }

    [LibraryImport(Name, EntryPoint = "ioctl", SetLastError = true)]
    internal static partial int Ioctl(int fd, ulong request, ref IfReqFlags ifreq);
}
