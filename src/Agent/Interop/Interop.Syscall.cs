using System.Runtime.InteropServices;

namespace Sandbox.Agent.Interop;

internal static unsafe partial class Libc
{
    internal const long SYS_openat2 = 437; // same number on x86_64 and aarch64 (new syscall table)

    /// <summary>struct open_how { u64 flags; u64 mode; u64 resolve; }</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal struct OpenHow
    {
        public ulong Flags;
        public ulong Mode;
        public ulong Resolve;
    }

    internal const ulong RESOLVE_NO_XDEV = 0x01;
    internal const ulong RESOLVE_NO_MAGICLINKS = 0x02;
    internal const ulong RESOLVE_NO_SYMLINKS = 0x04;
    internal const ulong RESOLVE_BENEATH = 0x08;
    internal const ulong RESOLVE_IN_ROOT = 0x10;

    // syscall() is variadic; glibc implements it in assembly that only shuffles integer registers, so a fixed
    // signature with integer/pointer arguments is safe.
    [LibraryImport("libc", EntryPoint = "syscall", SetLastError = true)]
    internal static partial long syscall_openat2(long number, int dirFd, byte* path, OpenHow* how, nuint size);
}
