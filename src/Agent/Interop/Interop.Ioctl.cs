using System.Runtime.InteropServices;

namespace Sandbox.Agent.Interop;

internal static unsafe partial class Libc
{
    /// <summary>RNDADDENTROPY = _IOW('R', 0x03, int[2]): mix a struct rand_pool_info into the input pool and credit it.</summary>
    internal const ulong RNDADDENTROPY = 0x40085203;

    /// <summary>RNDRESEEDCRNG = _IO('R', 0x07): reseed the CRNG from the input pool now (CAP_SYS_ADMIN).</summary>
    internal const ulong RNDRESEEDCRNG = 0x5207;

    // ioctl() is variadic; the third argument is passed in an integer register on x86_64 and aarch64.
    [LibraryImport("libc", EntryPoint = "ioctl", SetLastError = true)]
    internal static partial int ioctl(int fd, ulong request, void* argument);
}
