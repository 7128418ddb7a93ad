using System.Runtime.InteropServices;

namespace Sandbox.Agent.Interop;

internal static unsafe partial class Libc
{
    [LibraryImport("libc", EntryPoint = "sethostname", SetLastError = true)]
    internal static partial int sethostname(byte* name, nuint length);
}
