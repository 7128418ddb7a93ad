using System.Runtime.InteropServices;

namespace Sandbox.KataShim.Interop;

internal static partial class Libc
{
    internal const ulong MS_RDONLY = 1, MS_NOSUID = 2, MS_NODEV = 4, MS_NOEXEC = 8, MS_REMOUNT = 32, MS_NOATIME = 1024,
        MS_NODIRATIME = 2048, MS_BIND = 4096, MS_REC = 16384, MS_PRIVATE = 1 << 18, MS_RELATIME = 1 << 21;

    [LibraryImport(Name, EntryPoint = "mount", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    internal static partial int Mount(string source, string target, string? fsType, ulong flags, string? data);
}
