using System.Runtime.InteropServices;

namespace Sandbox.Agent.Interop;

internal static unsafe partial class Libc
{
    internal const ulong MS_RDONLY = 1, MS_NOSUID = 2, MS_NODEV = 4, MS_NOEXEC = 8, MS_REMOUNT = 32, MS_BIND = 4096, MS_MOVE = 8192, MS_REC = 16384;

    [LibraryImport("libc", EntryPoint = "mount", SetLastError = true)]
    internal static partial int mount(byte* source, byte* target, byte* fileSystemType, ulong flags, byte* data);
}
