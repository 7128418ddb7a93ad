using System.Runtime.InteropServices;

namespace Sandbox.Agent.Interop;

internal static unsafe partial class Libc
{
    // posix_spawnattr_t is 336 bytes on x86_64 glibc; callers allocate SpawnAttrSize to stay safe.
    internal const int SpawnAttrSize = 512;
    internal const short POSIX_SPAWN_SETSIGDEF = 0x04;
    internal const short POSIX_SPAWN_SETSIGMASK = 0x08;
    internal const short POSIX_SPAWN_SETSID = 0x80;

    [LibraryImport("libc", EntryPoint = "posix_spawnattr_init")]
    internal static partial int posix_spawnattr_init(void* attr);
}
