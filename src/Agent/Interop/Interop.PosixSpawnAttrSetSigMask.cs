using System.Runtime.InteropServices;

namespace Sandbox.Agent.Interop;

internal static unsafe partial class Libc
{
    [LibraryImport("libc", EntryPoint = "posix_spawnattr_setsigmask")]
    internal static partial int posix_spawnattr_setsigmask(void* attr, void* sigset);
}
