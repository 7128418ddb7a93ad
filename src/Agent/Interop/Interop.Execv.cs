using System.Runtime.InteropServices;

namespace Sandbox.Agent.Interop;

internal static unsafe partial class Libc
{
    /// <summary>execv: the current environment (environ) goes with the new program; returns only on failure.</summary>
    [LibraryImport("libc", EntryPoint = "execv", SetLastError = true)]
    internal static partial int execv(byte* path, byte** argv);
}
