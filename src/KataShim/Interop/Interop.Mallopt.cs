using System.Runtime.InteropServices;

namespace Sandbox.KataShim.Interop;

internal static partial class Libc
{
    /// <summary>mallopt's M_ARENA_MAX.</summary>
    internal const int M_ARENA_MAX = -8;

    [LibraryImport(Name, EntryPoint = "mallopt")]
    internal static partial int Mallopt(int param, int value);
}
