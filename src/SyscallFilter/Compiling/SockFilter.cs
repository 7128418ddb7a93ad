using System.Globalization;

namespace Sandbox.SyscallFilter;

/// <summary>One classic BPF instruction, laid out as the kernel's <c>struct sock_filter</c> (8 bytes, little-endian).</summary>
public readonly record struct SockFilter(ushort Code, byte Jt, byte Jf, uint K)
{
    public const int Size = 8;

    // Opcodes this compiler emits (linux/bpf_common.h).
    internal const ushort LdWAbs = 0x20;  // BPF_LD | BPF_W | BPF_ABS
    internal const ushort AluAndK = 0x54; // BPF_ALU | BPF_AND | BPF_K
    internal const ushort Ja = 0x05;      // BPF_JMP | BPF_JA
    internal const ushort JeqK = 0x15;    // BPF_JMP | BPF_JEQ | BPF_K
    internal const ushort JgtK = 0x25;    // BPF_JMP | BPF_JGT | BPF_K
    internal const ushort JgeK = 0x35;    // BPF_JMP | BPF_JGE | BPF_K
    internal const ushort JsetK = 0x45;   // BPF_JMP | BPF_JSET | BPF_K
    internal const ushort RetK = 0x06;    // BPF_RET | BPF_K

    internal void WriteTo(Span<byte> destination)
    {
        System.Buffers.Binary.BinaryPrimitives.WriteUInt16LittleEndian(destination, Code);
        destination[2] = Jt;
        destination[3] = Jf;
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(destination[4..], K);
    }

    /// <summary>Disassembles like <c>bpf_dbg</c>; jump targets are absolute, given this instruction's index.</summary>
    public string ToString(int index) => Code switch
    {
        LdWAbs => $"ld [{K}]{LoadComment(K)}",
        AluAndK => $"and #0x{K:x}",
        Ja => $"ja {index + 1 + K}",
        JeqK => $"jeq #0x{K:x} jt {index + 1 + Jt} jf {index + 1 + Jf}",
        JgtK => $"jgt #0x{K:x} jt {index + 1 + Jt} jf {index + 1 + Jf}",
        JgeK => $"jge #0x{K:x} jt {index + 1 + Jt} jf {index + 1 + Jf}",
        JsetK => $"jset #0x{K:x} jt {index + 1 + Jt} jf {index + 1 + Jf}",
        RetK => $"ret #0x{K:x}{ReturnComment(K)}",
        _ => string.Create(CultureInfo.InvariantCulture, $"code 0x{Code:x4} jt {Jt} jf {Jf} k 0x{K:x}"),
    };

    private static string LoadComment(uint offset) => offset switch
    {
        0 => "  ; nr",
        4 => "  ; arch",
        8 => "  ; instruction_pointer low",
        12 => "  ; instruction_pointer high",
        >= 16 and < 64 => $"  ; args[{(offset - 16) / 8}] {((offset & 4) == 0 ? "low" : "high")}",
        _ => "",
    };

    private static string ReturnComment(uint value) => (value & 0xffff0000u) switch
    {
        0x7fff0000u => "  ; allow",
        0x00050000u => $"  ; errno({value & 0xffff})",
        0x80000000u => "  ; kill_process",
        0x00000000u => "  ; kill_thread",
        0x00030000u => "  ; trap",
        0x7ffc0000u => "  ; log",
        _ => "",
    };
}
