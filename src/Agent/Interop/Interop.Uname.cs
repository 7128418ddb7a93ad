using System.Runtime.InteropServices;

namespace Sandbox.Agent.Interop;

internal static unsafe partial class Libc
{
    /// <summary>struct utsname: six 65-byte fields (sysname, nodename, release, version, machine, domainname).</summary>
    internal const int UtsFieldLength = 65;

    [LibraryImport("libc", EntryPoint = "uname", SetLastError = true)]
    internal static partial int uname(byte* buffer);
}
