using System.Runtime.InteropServices;

namespace Sandbox.Agent.Interop;

internal static unsafe partial class Libc
{
    // posix_spawn_file_actions_t is 80 bytes on x86_64/aarch64 glibc; callers allocate FileActionsSize to stay safe.
    internal const int FileActionsSize = 256;

    [LibraryImport("libc", EntryPoint = "posix_spawn_file_actions_init")]
    internal static partial int posix_spawn_file_actions_init(void* fileActions);
}
