using System.Runtime.InteropServices;

namespace Sandbox.Agent.Interop;

internal static unsafe partial class Libc
{
    internal const int CLONE_FS = 0x200, CLONE_NEWNS = 0x20000, CLONE_NEWUTS = 0x4000000, CLONE_NEWIPC = 0x8000000, CLONE_NEWPID = 0x20000000;
    internal const ulong MS_PRIVATE = 1 << 18;
    internal const long SYS_pivot_root = 155; // x86_64

    /// <summary>Per thread for CLONE_FS/NEWNS/NEWUTS/NEWIPC/NEWPID (the kernel keeps namespaces per task): the agent's
    /// other threads keep theirs.</summary>
    [LibraryImport("libc", EntryPoint = "unshare", SetLastError = true)]
    internal static partial int unshare(int flags);

    [LibraryImport("libc", EntryPoint = "setns", SetLastError = true)]
    internal static partial int setns(int fd, int nstype);

    [LibraryImport("libc", EntryPoint = "syscall", SetLastError = true)]
    internal static partial long syscall_pivot_root(long number, byte* newRoot, byte* putOld);

    [LibraryImport("libc", EntryPoint = "openat", SetLastError = true)]
    internal static partial int openat(int dirFd, byte* path, int flags, uint mode);
}
