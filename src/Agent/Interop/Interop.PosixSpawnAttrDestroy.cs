using System.Runtime.InteropServices;

namespace Sandbox.Agent.Interop;

internal static unsafe partial class Libc
{
    [LibraryImport("libc", EntryPoint = "posix_spawnattr_destroy")]
    internal static partial int posix_spawnattr_destroy(void* attr);
}
