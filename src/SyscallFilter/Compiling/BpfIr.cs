namespace Sandbox.SyscallFilter.Compiling;

/// <summary>A jump target: a label, or <see cref="Next"/> (the instruction written after this one).</summary>
internal readonly record struct Target(int Label)
{
    public static Target Next { get; } = new(-1);

    public bool IsNext => Label < 0;
}

/// <summary>
/// The intermediate form between lowering and emission: a flat list of instructions whose jumps name labels,
/// with <see cref="Mark"/> items placing labels. Every jump goes forward.
/// </summary>
internal abstract record IrItem;

/// <summary>Places <paramref name="Label"/> on the next instruction.</summary>
internal sealed record Mark(int Label) : IrItem;

/// <summary>A non-jump instruction (load, ALU, return).</summary>
internal sealed record Plain(ushort Code, uint K) : IrItem;

/// <summary>A conditional jump (jeq/jgt/jge/jset with constant K).</summary>
internal sealed record Branch(ushort Code, uint K, Target WhenTrue, Target WhenFalse) : IrItem;

/// <summary>An unconditional jump (ja).</summary>
internal sealed record Goto(int Label) : IrItem;

internal sealed class IrBuilder
{
    private int _labels;

    public List<IrItem> Items { get; } = [];

    public int NewLabel() => _labels++;

    public void Mark(int label) => Items.Add(new Mark(label));

    public void Load(uint offset) => Items.Add(new Plain(SockFilter.LdWAbs, offset));

    public void And(uint mask) => Items.Add(new Plain(SockFilter.AluAndK, mask));

    public void Return(uint value) => Items.Add(new Plain(SockFilter.RetK, value));

    public void Branch(ushort code, uint k, Target whenTrue, Target whenFalse) => Items.Add(new Branch(code, k, whenTrue, whenFalse));

    public void Goto(int label) => Items.Add(new Goto(label));
}
