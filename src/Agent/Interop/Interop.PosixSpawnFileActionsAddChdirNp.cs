using System.Runtime.InteropServices;

namespace Sandbox.Agent.Interop;

internal static unsafe partial class Libc
{
    /// <summary>glibc 2.29+.</summary>
    [LibraryImport("libc", EntryPoint = "posix_spawn_file_actions_addchdir_np")]
    internal static partial int posix_spawn_file_actions_addchdir_np(void* fileActions, byte* path);
}
