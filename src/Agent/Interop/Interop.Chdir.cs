using System.Runtime.InteropServices;

namespace Sandbox.Agent.Interop;

internal static unsafe partial class Libc
{
    [LibraryImport("libc", EntryPoint = "chdir", SetLastError = true)]
    internal static partial int chdir(byte* path);
}
