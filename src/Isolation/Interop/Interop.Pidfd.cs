using System.Runtime.InteropServices;

namespace Sandbox.Isolation.Interop;

internal static partial class Libc
{
    /// <summary>glibc 2.36+. A pidfd names one process for good: signals through it cannot hit a recycled pid.</summary>
    [LibraryImport(Name, EntryPoint = "pidfd_open", SetLastError = true)]
    internal static partial int PidfdOpen(int pid, uint flags);

    [LibraryImport(Name, EntryPoint = "pidfd_send_signal", SetLastError = true)]
    internal static partial int PidfdSendSignal(int pidfd, int signal, nint info, uint flags);
}
