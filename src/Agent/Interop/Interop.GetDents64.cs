using System.Runtime.InteropServices;

namespace Sandbox.Agent.Interop;

internal static unsafe partial class Libc
{
    /// <summary>struct linux_dirent64 { u64 d_ino; s64 d_off; u16 d_reclen; u8 d_type; char d_name[]; } (all arches).</summary>
    internal const int Dirent64ReclenOffset = 16;
    internal const int Dirent64NameOffset = 19;

    // glibc 2.30+ wrapper (the raw syscall number differs between x86_64 and aarch64).
    [LibraryImport("libc", EntryPoint = "getdents64", SetLastError = true)]
    internal static partial nint getdents64(int fd, byte* buffer, nuint length);
}
