using System.Runtime.InteropServices;

namespace Sandbox.Agent.Interop;

internal static unsafe partial class Libc
{
    /// <summary>sigset_t is 128 bytes in glibc.</summary>
    internal const int SigSetSize = 128;

    [LibraryImport("libc", EntryPoint = "sigemptyset")]
    internal static partial int sigemptyset(void* set);
}
