using System.Runtime.InteropServices;

namespace Sandbox.Agent.Interop;

internal static unsafe partial class Libc
{
    [LibraryImport("libc", EntryPoint = "chown", SetLastError = true)]
    internal static partial int chown(byte* path, uint owner, uint group);
}
