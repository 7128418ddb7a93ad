namespace Sandbox.SyscallFilter.Tests.Compiling;

/// <summary>Random valid profiles and inputs aimed at the edges (64-bit halves, off-by-one, x32, foreign arch).</summary>
internal static class RandomProfiles
{
    private static readonly ulong[] Interesting =
        [0, 1, 2, 0x7fffffff, 0x80000000, 0xffffffff, 0x100000000, 0x100000001, 0xffffffff00000000, 0x7fffffffffffffff, 0x8000000000000000, ulong.MaxValue];

    public static SeccompAction RandomAction(Random rng) => rng.Next(6) switch
    {
        0 => SeccompAction.Allow,
        1 => SeccompAction.FailWith(rng.Next(1, SeccompAction.MaxErrno + 1)),
        2 => SeccompAction.KillProcess,
        3 => SeccompAction.KillThread,
        4 => SeccompAction.Trap,
        _ => SeccompAction.Log,
    };

    public static ulong RandomValue(Random rng) => rng.Next(4) switch
    {
        0 => Interesting[rng.Next(Interesting.Length)],
        1 => (ulong)rng.Next(0, 64),
        2 => ((ulong)(uint)rng.Next(0, 4) << 32) | (uint)rng.Next(0, 4),
        _ => (ulong)rng.NextInt64() ^ ((ulong)rng.Next(2) << 63),
    };

    public static ArgCondition RandomCondition(Random rng)
    {
        var op = (ArgOperator)rng.Next(7);
        var index = rng.Next(6);
        var value = RandomValue(rng);
        if (op != ArgOperator.MaskedEq)
        {
            return new ArgCondition(index, op, value);
        }

        var mask = rng.Next(3) switch
        {
            0 => 0xffffffffUL,
            1 => 0xffffffff00000000UL,
            _ => RandomValue(rng),
        };
        return new ArgCondition(index, op, value & mask, mask);
    }

    /// <summary>A valid profile: names from <paramref name="pool"/>, no rule after an unconditional one for the same syscall.</summary>
    public static SeccompProfile Profile(Random rng, IReadOnlyList<string> pool, int maxRules, int maxConditions)
    {
        var decided = new HashSet<string>();
        var rules = new List<SeccompRule>();
        var count = rng.Next(0, maxRules + 1);
        for (var r = 0; r < count; r++)
        {
            var names = Enumerable.Range(0, rng.Next(1, 5)).Select(_ => pool[rng.Next(pool.Count)])
                .Distinct().Where(n => !decided.Contains(n)).ToArray();
            if (names.Length == 0)
            {
                continue;
            }

            var conditions = rng.Next(3) == 0
                ? []
                : Enumerable.Range(0, rng.Next(1, maxConditions + 1)).Select(_ => RandomCondition(rng)).ToArray();
            if (conditions.Length == 0)
            {
                decided.UnionWith(names);
            }

            rules.Add(new SeccompRule(names, RandomAction(rng), conditions));
        }

        return new SeccompProfile("random", RandomAction(rng), rules);
    }

    public static (uint Nr, uint Arch, ulong[] Args) Input(Random rng, SeccompProfile profile)
    {
        var arch = rng.Next(20) switch
        {
            0 => 0x40000003u,            // AUDIT_ARCH_I386
            1 => 0xC00000B7u,            // AUDIT_ARCH_AARCH64
            2 => (uint)rng.NextInt64(),
            _ => 0xC000003Eu,
        };
        var named = profile.Rules.SelectMany(r => r.Names).ToArray();
        var nr = rng.Next(20) switch
        {
            0 => 0x40000000u + (uint)rng.Next(0, 600),       // x32
            1 => (uint)rng.NextInt64(),
            2 => (uint)rng.Next(0, 600),
            3 => 0xffffffffu,
            4 => 0x3fffffffu,
            _ when named.Length > 0 => (uint)SyscallTable.GetNumber(named[rng.Next(named.Length)]),
            _ => (uint)rng.Next(0, SyscallTable.MaxNumber + 2),
        };
        var values = profile.Rules.SelectMany(r => r.Conditions).Select(c => c.Value).ToArray();
        var args = new ulong[6];
        for (var i = 0; i < 6; i++)
        {
            args[i] = rng.Next(4) switch
            {
                0 or 1 when values.Length > 0 => Nudge(rng, values[rng.Next(values.Length)]),
                2 => RandomValue(rng),
                _ => Nudge(rng, RandomValue(rng)),
            };
        }

        return (nr, arch, args);
    }

    /// <summary>The value, or a neighbour, or one with only its high or low half changed.</summary>
    private static ulong Nudge(Random rng, ulong value) => rng.Next(6) switch
    {
        0 => value + 1,
        1 => value - 1,
        2 => value ^ ((ulong)(uint)rng.Next(1, 3) << 32),
        3 => value ^ (uint)rng.Next(1, 3),
        _ => value,
    };
}
