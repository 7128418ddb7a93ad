using System.Runtime.InteropServices;

namespace Sandbox.KataShim.Interop;

internal static partial class Libc
{
    [LibraryImport(Name, EntryPoint = "setsid", SetLastError = true)]
    internal static partial int Setsid();
}
