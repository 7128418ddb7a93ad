using System.Runtime.InteropServices;

namespace Sandbox.Agent.Interop;

internal static unsafe partial class Libc
{
    [LibraryImport("libc", EntryPoint = "chroot", SetLastError = true)]
    internal static partial int chroot(byte* path);
}
