using System.Buffers.Binary;

namespace Sandbox.SyscallFilter.Tests.Compiling;

/// <summary>
/// A classic BPF interpreter over <c>struct seccomp_data</c> { int nr; u32 arch; u64 instruction_pointer; u64 args[6]; },
/// with the kernel's structural checks (bpf_check_classic): in-range forward jumps, aligned loads inside
/// seccomp_data, a final ret, at most 4096 instructions.
/// </summary>
internal static class BpfInterpreter
{
    public static void CheckStructure(IReadOnlyList<SockFilter> program)
    {
        Assert.InRange(program.Count, 1, BpfProgram.MaxInstructions);
        Assert.Equal(SockFilter.RetK, program[^1].Code);
        for (var pc = 0; pc < program.Count; pc++)
        {
            var insn = program[pc];
            switch (insn.Code)
            {
                case SockFilter.LdWAbs:
                    Assert.True(insn.K % 4 == 0 && insn.K <= 60, $"({pc}) load offset {insn.K} outside seccomp_data");
                    break;
                case SockFilter.Ja:
                    Assert.True(pc + 1 + (long)insn.K < program.Count, $"({pc}) ja past the end");
                    break;
                case SockFilter.JeqK or SockFilter.JgtK or SockFilter.JgeK or SockFilter.JsetK:
                    Assert.True(pc + 1 + insn.Jt < program.Count && pc + 1 + insn.Jf < program.Count, $"({pc}) jump past the end");
                    break;
                case SockFilter.AluAndK or SockFilter.RetK:
                    break;
                default:
                    Assert.Fail($"({pc}) unexpected opcode 0x{insn.Code:x}");
                    break;
            }
        }
    }

    public static uint Run(IReadOnlyList<SockFilter> program, uint nr, uint arch, ReadOnlySpan<ulong> args, ulong instructionPointer = 0) =>
        Run(program, nr, arch, args, out _, instructionPointer);

    /// <summary>Runs the program; <paramref name="executed"/> is the number of instructions it took to reach a ret.</summary>
    public static uint Run(IReadOnlyList<SockFilter> program, uint nr, uint arch, ReadOnlySpan<ulong> args, out int executed,
        ulong instructionPointer = 0)
    {
        Span<byte> data = stackalloc byte[64];
        BinaryPrimitives.WriteUInt32LittleEndian(data, nr);
        BinaryPrimitives.WriteUInt32LittleEndian(data[4..], arch);
        BinaryPrimitives.WriteUInt64LittleEndian(data[8..], instructionPointer);
        for (var i = 0; i < 6; i++)
        {
            BinaryPrimitives.WriteUInt64LittleEndian(data[(16 + 8 * i)..], i < args.Length ? args[i] : 0);
        }

        uint a = 0;
        var pc = 0;
        executed = 0;
        while (true)
        {
            var insn = program[pc];
            executed++;
            switch (insn.Code)
            {
                case SockFilter.LdWAbs:
                    a = BinaryPrimitives.ReadUInt32LittleEndian(data[(int)insn.K..]);
                    pc++;
                    break;
                case SockFilter.AluAndK:
                    a &= insn.K;
                    pc++;
                    break;
                case SockFilter.Ja:
                    pc += 1 + (int)insn.K;
                    break;
                case SockFilter.JeqK:
                    pc += 1 + (a == insn.K ? insn.Jt : insn.Jf);
                    break;
                case SockFilter.JgtK:
                    pc += 1 + (a > insn.K ? insn.Jt : insn.Jf);
                    break;
                case SockFilter.JgeK:
                    pc += 1 + (a >= insn.K ? insn.Jt : insn.Jf);
                    break;
                case SockFilter.JsetK:
                    pc += 1 + ((a & insn.K) != 0 ? insn.Jt : insn.Jf);
                    break;
                case SockFilter.RetK:
                    return insn.K;
                default:
                    throw new InvalidOperationException($"({pc}) unexpected opcode 0x{insn.Code:x}");
            }
        }
    }
}
