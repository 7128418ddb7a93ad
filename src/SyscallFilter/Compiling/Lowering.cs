using System.Text;
using Sandbox.SyscallFilter.Loading;

namespace Sandbox.SyscallFilter.Compiling;

/// <summary>
/// Lowers a validated profile to the IR, in this layout:
/// <list type="number">
/// <item>architecture check: <c>arch != AUDIT_ARCH_X86_64</c> → kill_process;</item>
/// <item>x32 check: <c>nr &gt;= 0x40000000</c> → kill_process (whatever the default action);</item>
/// <item>a balanced binary search over ranges of syscall numbers that decide alike (<c>jge</c> per node);</item>
/// <item>per-syscall chains of argument checks for conditional rules, first match wins;</item>
/// <item>one <c>ret</c> per distinct action.</item>
/// </list>
/// </summary>
internal static class Lowering
{
    private const uint ArchOffset = 4;
    private const uint NrOffset = 0;
    private const uint ArgsOffset = 16;

    internal static List<IrItem> Lower(SeccompProfile profile)
    {
        var ir = new IrBuilder();
        var actionLabels = new Dictionary<SeccompAction, int>();
        int ActionLabel(SeccompAction action)
        {
            if (!actionLabels.TryGetValue(action, out var label))
            {
                label = ir.NewLabel();
                actionLabels[action] = label;
            }

            return label;
        }

        // 1-2: architecture and x32
        var loadNr = ir.NewLabel();
        var killArch = ir.NewLabel();
        var killX32 = ir.NewLabel();
        ir.Load(ArchOffset);
        ir.Branch(SockFilter.JeqK, SyscallTable.AuditArch, new Target(loadNr), new Target(killArch));
        ir.Mark(killArch);
        ir.Return(SeccompAction.KillProcess.ToReturnValue());
        ir.Mark(loadNr);
        ir.Load(NrOffset);
        var root = ir.NewLabel();
        ir.Branch(SockFilter.JgeK, SyscallTable.X32SyscallBit, new Target(killX32), new Target(root));
        ir.Mark(killX32);
        ir.Return(SeccompAction.KillProcess.ToReturnValue());

        // Decide each syscall number: its matching rules in order, up to the first unconditional one.
        var chains = new List<Chain>();
        var chainByKey = new Dictionary<string, Chain>(StringComparer.Ordinal);
        var defaultChain = Intern(new Chain([new ChainEntry([], profile.DefaultAction)]));
        var ruleEntries = RulesBySyscall(profile);
        var ranges = new List<(uint Start, Chain Chain)>();
        for (var nr = 0; nr <= SyscallTable.MaxNumber + 1; nr++)
        {
            var chain = nr <= SyscallTable.MaxNumber && ruleEntries.TryGetValue(nr, out var entries)
                ? Intern(new Chain(Terminate(entries, profile.DefaultAction)))
                : defaultChain;
            if (ranges.Count == 0 || !ReferenceEquals(ranges[^1].Chain, chain))
            {
                ranges.Add(((uint)nr, chain));
            }
        }

        // 3: binary search; a leaf is either an action's ret or a chain
        foreach (var chain in chains)
        {
            chain.Label = chain.IsUnconditional ? ActionLabel(chain.Entries[0].Action) : ir.NewLabel();
        }

        EmitTree(ir, ranges, 0, ranges.Count - 1, root);

        // 4: argument chains; a failed entry falls to the next, and the last (unconditional) entry is its action's ret
        foreach (var chain in chains.Where(c => !c.IsUnconditional))
        {
            ir.Mark(chain.Label);
            for (var e = 0; e < chain.Entries.Count - 1; e++)
            {
                var entry = chain.Entries[e];
                var following = chain.Entries[e + 1];
                var nextEntry = following.Conditions.Count == 0 ? ActionLabel(following.Action) : ir.NewLabel();
                var pass = ActionLabel(entry.Action);
                for (var c = 0; c < entry.Conditions.Count; c++)
                {
                    var last = c == entry.Conditions.Count - 1;
                    var afterThis = last ? pass : ir.NewLabel();
                    EmitCondition(ir, entry.Conditions[c], afterThis, nextEntry);
                    if (!last)
                    {
                        ir.Mark(afterThis);
                    }
                }

                if (following.Conditions.Count > 0)
                {
                    ir.Mark(nextEntry);
                }
            }
        }

        // 5: one ret per action, in a stable order
        foreach (var (action, label) in actionLabels.OrderBy(a => a.Value))
        {
            ir.Mark(label);
            ir.Return(action.ToReturnValue());
        }

        return ir.Items;

        Chain Intern(Chain chain)
        {
            var key = chain.Key;
            if (chainByKey.TryGetValue(key, out var existing))
            {
                return existing;
            }

            chainByKey[key] = chain;
            chains.Add(chain);
            return chain;
        }
    }

    private static void EmitTree(IrBuilder ir, List<(uint Start, Chain Chain)> ranges, int low, int high, int label)
    {
        // A single range needs no test: its parent (or the x32 check, for the root) jumps straight to the leaf.
        if (low == high)
        {
            ir.Mark(label);
            ir.Goto(ranges[low].Chain.Label);
            return;
        }

        var mid = (low + high + 1) / 2;
        ir.Mark(label);
        var left = low == mid - 1 ? ranges[low].Chain.Label : ir.NewLabel();
        var right = mid == high ? ranges[mid].Chain.Label : ir.NewLabel();
        ir.Branch(SockFilter.JgeK, ranges[mid].Start, new Target(right), new Target(left));
        if (low != mid - 1)
        {
            EmitTree(ir, ranges, low, mid - 1, left);
        }

        if (mid != high)
        {
            EmitTree(ir, ranges, mid, high, right);
        }
    }

    /// <summary>Compares 64-bit argument <c>args[i]</c> as two 32-bit halves, high first.</summary>
    private static void EmitCondition(IrBuilder ir, ArgCondition condition, int pass, int fail)
    {
        var low = ArgsOffset + (uint)(8 * condition.Index);
        var high = low + 4;
        var valueHigh = (uint)(condition.Value >> 32);
        var valueLow = (uint)condition.Value;
        Target Pass = new(pass), Fail = new(fail), Next = Target.Next;
        switch (condition.Op)
        {
            case ArgOperator.Eq:
                ir.Load(high);
                ir.Branch(SockFilter.JeqK, valueHigh, Next, Fail);
                ir.Load(low);
                ir.Branch(SockFilter.JeqK, valueLow, Pass, Fail);
                break;
            case ArgOperator.Ne:
                ir.Load(high);
                ir.Branch(SockFilter.JeqK, valueHigh, Next, Pass);
                ir.Load(low);
                ir.Branch(SockFilter.JeqK, valueLow, Fail, Pass);
                break;
            case ArgOperator.Gt:
            case ArgOperator.Ge:
                ir.Load(high);
                ir.Branch(SockFilter.JgtK, valueHigh, Pass, Next);
                ir.Branch(SockFilter.JeqK, valueHigh, Next, Fail);
                ir.Load(low);
                ir.Branch(condition.Op == ArgOperator.Gt ? SockFilter.JgtK : SockFilter.JgeK, valueLow, Pass, Fail);
                break;
            case ArgOperator.Lt:
            case ArgOperator.Le:
                ir.Load(high);
                ir.Branch(SockFilter.JgtK, valueHigh, Fail, Next);
                ir.Branch(SockFilter.JeqK, valueHigh, Next, Pass);
                ir.Load(low);
                // lt: fail when low >= v; le: fail when low > v
                ir.Branch(condition.Op == ArgOperator.Lt ? SockFilter.JgeK : SockFilter.JgtK, valueLow, Fail, Pass);
                break;
            case ArgOperator.MaskedEq:
                var maskHigh = (uint)(condition.Mask >> 32);
                var maskLow = (uint)condition.Mask;
                // The validator guarantees Value has no bits outside Mask, so a zero half always matches.
                if (maskHigh != 0)
                {
                    ir.Load(high);
                    ir.And(maskHigh);
                    ir.Branch(SockFilter.JeqK, valueHigh, maskLow != 0 ? Next : Pass, Fail);
                }

                if (maskLow != 0)
                {
                    ir.Load(low);
                    ir.And(maskLow);
                    ir.Branch(SockFilter.JeqK, valueLow, Pass, Fail);
                }
                else if (maskHigh == 0)
                {
                    ir.Goto(pass);
                }

                break;
            default:
                throw new InvalidOperationException($"unknown argument operator {condition.Op}");
        }
    }

    private static Dictionary<int, List<ChainEntry>> RulesBySyscall(SeccompProfile profile)
    {
        var bySyscall = new Dictionary<int, List<ChainEntry>>();
        foreach (var rule in profile.Rules)
        {
            foreach (var name in rule.Names.Distinct(StringComparer.Ordinal))
            {
                var nr = SyscallTable.GetNumber(name);
                if (!bySyscall.TryGetValue(nr, out var entries))
                {
                    bySyscall[nr] = entries = [];
                }

                entries.Add(new ChainEntry(rule.Conditions, rule.Action));
            }
        }

        return bySyscall;
    }

    /// <summary>Cuts the chain at its first unconditional entry, or ends it with the default action.</summary>
    private static List<ChainEntry> Terminate(List<ChainEntry> entries, SeccompAction defaultAction)
    {
        var result = new List<ChainEntry>();
        foreach (var entry in entries)
        {
            result.Add(entry);
            if (entry.Conditions.Count == 0)
            {
                return result;
            }
        }

        result.Add(new ChainEntry([], defaultAction));
        return result;
    }

    private sealed record ChainEntry(IReadOnlyList<ArgCondition> Conditions, SeccompAction Action);

    private sealed class Chain(List<ChainEntry> entries)
    {
        public List<ChainEntry> Entries { get; } = entries;

        public bool IsUnconditional => Entries.Count == 1;

        public int Label { get; set; } = -1;

        public string Key
        {
            get
            {
                var key = new StringBuilder();
                foreach (var entry in Entries)
                {
                    key.Append(entry.Action.ToReturnValue()).Append(':');
                    foreach (var c in entry.Conditions)
                    {
                        key.Append(c.Index).Append(',').Append((int)c.Op).Append(',').Append(c.Value).Append(',').Append(c.Mask).Append(';');
                    }

                    key.Append('|');
                }

                return key.ToString();
            }
        }
    }
}
