using System.Runtime.InteropServices;
using Sandbox.Agent.Interop;

namespace Sandbox.Agent;

/// <summary>A container's rlimits (open files, file size, no core dumps), which the agent sets on itself at its start
/// (<c>--rlimits</c>): soft and hard alike, so nothing it starts can raise them.</summary>
internal static unsafe class SandboxRlimits
{
    /// <returns>null when all are set; else which one failed and why.</returns>
    public static string? Apply(ulong openFiles, ulong fileSizeBytes)
    {
        return Set(Libc.RLIMIT_NOFILE, openFiles, "RLIMIT_NOFILE") ?? Set(Libc.RLIMIT_FSIZE, fileSizeBytes, "RLIMIT_FSIZE") ?? Set(Libc.RLIMIT_CORE, 0, "RLIMIT_CORE");
    }

    private static string? Set(int resource, ulong value, string name)
    {
        var limit = new Libc.RLimit { Current = value, Max = value };
        return Libc.prlimit(0, resource, &limit, null) == 0 ? null : $"{name} {value}: {Errno.Name(Marshal.GetLastPInvokeError())}";
    }
}
