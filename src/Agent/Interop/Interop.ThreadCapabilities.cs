using System.Runtime.InteropServices;

namespace Sandbox.Agent.Interop;

/// <summary>Capability calls that act on the calling thread only (the kernel keeps credentials per thread): capset as a
/// raw system call, and the prctl options for the bounding set, the ambient set and the securebits.</summary>
internal static unsafe partial class Libc
{
    internal const long SYS_capset = 126; // x86_64
    internal const uint LINUX_CAPABILITY_VERSION_3 = 0x20080522;
    internal const int PR_CAPBSET_DROP = 24;
    internal const int PR_SET_SECUREBITS = 28;
    internal const int PR_CAP_AMBIENT = 47;
    internal const int PR_CAP_AMBIENT_CLEAR_ALL = 4;
    internal const ulong SECBIT_NOROOT = 1 << 0, SECBIT_NOROOT_LOCKED = 1 << 1;

    /// <summary>Highest capability number this agent knows (CAP_CHECKPOINT_RESTORE); PR_CAPBSET_DROP of a higher one
    /// the kernel knows too is tried until the kernel answers EINVAL.</summary>
    internal const int CAP_LAST_KNOWN = 40;

    [StructLayout(LayoutKind.Sequential)]
    internal struct CapHeader
    {
        public uint Version;
        public int Pid;
    }

    [StructLayout(LayoutKind.Sequential)]
    internal struct CapData
    {
        public uint Effective;
        public uint Permitted;
        public uint Inheritable;
    }

    [LibraryImport("libc", EntryPoint = "syscall", SetLastError = true)]
    internal static partial long syscall_capset(long number, CapHeader* header, CapData* data);

    [LibraryImport("libc", EntryPoint = "getuid")]
    internal static partial uint getuid();

    [LibraryImport("libc", EntryPoint = "getgid")]
    internal static partial uint getgid();
}
