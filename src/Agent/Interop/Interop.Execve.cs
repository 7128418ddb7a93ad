using System.Runtime.InteropServices;

namespace Sandbox.Agent.Interop;

internal static unsafe partial class Libc
{
    /// <summary>execve: the program gets <paramref name="envp"/> as its whole environment; returns only on failure.</summary>
    [LibraryImport("libc", EntryPoint = "execve", SetLastError = true)]
    internal static partial int execve(byte* path, byte** argv, byte** envp);
}
