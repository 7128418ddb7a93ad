namespace Sandbox.Agent.Interop;

internal static partial class Libc
{
    /// <summary>LOOP_CTL_GET_FREE on /dev/loop-control: the number of a free loop device (made when none is).</summary>
    internal const ulong LOOP_CTL_GET_FREE = 0x4C82;

    /// <summary>LOOP_CONFIGURE (Linux 5.8): backing file, flags and size in one call, on a struct loop_config.</summary>
    internal const ulong LOOP_CONFIGURE = 0x4C0A;

    internal const uint LO_FLAGS_READ_ONLY = 1, LO_FLAGS_AUTOCLEAR = 4;

    /// <summary>struct loop_config { u32 fd; u32 block_size; struct loop_info64 info (232 bytes); u64 reserved[8]; }:
    /// 304 bytes, info.lo_flags at 8 + 52.</summary>
    internal const int LoopConfigSize = 304, LoopConfigFlagsOffset = 60;
}
