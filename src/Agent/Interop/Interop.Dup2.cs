using System.Runtime.InteropServices;

namespace Sandbox.Agent.Interop;

internal static unsafe partial class Libc
{
    /// <summary>dup2: <paramref name="newFd"/> becomes a copy of <paramref name="oldFd"/> (without close-on-exec).</summary>
    [LibraryImport("libc", EntryPoint = "dup2", SetLastError = true)]
    internal static partial int dup2(int oldFd, int newFd);
}
