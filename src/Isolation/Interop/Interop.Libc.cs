namespace Sandbox.Isolation.Interop;

/// <summary>glibc entry points, one file per function (Interop.&lt;Function&gt;.cs), as dotnet/runtime lays them out.
/// Tmds.LibC lacks posix_spawn, waitid, prlimit and the pidfd calls, so these are declared here.</summary>
internal static partial class Libc
{
    internal const string Name = "libc";
}
