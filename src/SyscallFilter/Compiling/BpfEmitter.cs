namespace Sandbox.SyscallFilter.Compiling;

/// <summary>
/// Turns the IR into <c>sock_filter</c>s. It writes the program backwards, so every jump's target is already
/// placed and its distance known. A conditional jump can reach at most 255 instructions ahead; a farther target
/// gets a trampoline written just after the jump: a copy of the target when it is a single <c>ret</c>, else a
/// <c>ja</c> (32-bit offset). Later jumps to the same label reuse the nearest trampoline.
/// </summary>
internal static class BpfEmitter
{
    private const int MaxConditionalOffset = byte.MaxValue;

    internal static SockFilter[] Emit(IReadOnlyList<IrItem> items)
    {
        // A label whose instruction is a ret can be "reached" by copying that ret.
        var returnAt = new Dictionary<int, uint>();
        for (var i = 0; i < items.Count; i++)
        {
            if (items[i] is Mark mark)
            {
                var next = items.Skip(i + 1).FirstOrDefault(item => item is not Mark);
                if (next is Plain { Code: SockFilter.RetK } ret)
                {
                    returnAt[mark.Label] = ret.K;
                }
            }
        }

        var reversed = new List<SockFilter>(items.Count);
        var nearest = new Dictionary<int, int>(); // label -> index in `reversed` of the closest copy of it
        for (var i = items.Count - 1; i >= 0; i--)
        {
            switch (items[i])
            {
                case Mark mark:
                    if (reversed.Count == 0)
                    {
                        throw new InvalidOperationException($"label {mark.Label} marks the end of the program");
                    }

                    nearest[mark.Label] = reversed.Count - 1;
                    break;
                case Plain plain:
                    reversed.Add(new SockFilter(plain.Code, 0, 0, plain.K));
                    break;
                case Goto jump:
                    reversed.Add(new SockFilter(SockFilter.Ja, 0, 0, (uint)Distance(reversed.Count, Find(nearest, jump.Label))));
                    break;
                case Branch branch:
                    EmitBranch(branch, reversed, nearest, returnAt);
                    break;
            }
        }

        reversed.Reverse();
        return reversed.ToArray();
    }

    private static void EmitBranch(Branch branch, List<SockFilter> reversed, Dictionary<int, int> nearest, Dictionary<int, uint> returnAt)
    {
        var following = reversed.Count - 1; // the instruction written after this one
        while (true)
        {
            var trueAt = branch.WhenTrue.IsNext ? following : Find(nearest, branch.WhenTrue.Label);
            var falseAt = branch.WhenFalse.IsNext ? following : Find(nearest, branch.WhenFalse.Label);
            var jt = Distance(reversed.Count, trueAt);
            var jf = Distance(reversed.Count, falseAt);
            if (jt <= MaxConditionalOffset && jf <= MaxConditionalOffset)
            {
                reversed.Add(new SockFilter(branch.Code, (byte)jt, (byte)jf, branch.K));
                return;
            }

            // Only labels go far: Next is always the adjacent instruction or a trampoline away from it.
            var far = jt > MaxConditionalOffset ? branch.WhenTrue : branch.WhenFalse;
            var farAt = jt > MaxConditionalOffset ? trueAt : falseAt;
            if (far.IsNext)
            {
                throw new InvalidOperationException("a fall-through target drifted out of conditional jump range");
            }

            reversed.Add(returnAt.TryGetValue(far.Label, out var value)
                ? new SockFilter(SockFilter.RetK, 0, 0, value)
                : new SockFilter(SockFilter.Ja, 0, 0, (uint)Distance(reversed.Count, farAt)));
            nearest[far.Label] = reversed.Count - 1;
        }
    }

    /// <summary>Offset from the instruction at reversed index <paramref name="from"/> to the one at <paramref name="to"/>.</summary>
    private static int Distance(int from, int to) => from - to - 1;

    private static int Find(Dictionary<int, int> nearest, int label) =>
        nearest.TryGetValue(label, out var at)
            ? at
            : throw new InvalidOperationException($"jump to label {label}, which is not placed after the jump");
}
