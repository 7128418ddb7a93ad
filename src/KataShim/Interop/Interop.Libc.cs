namespace Sandbox.KataShim.Interop;

/// <summary>libc entry points the shim calls itself, one file per call (Interop.*.cs).</summary>
internal static partial class Libc
{
    internal const string Name = "libc";
}
