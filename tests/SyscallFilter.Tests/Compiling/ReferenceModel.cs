namespace Sandbox.SyscallFilter.Tests.Compiling;

/// <summary>The profile's meaning, computed straight from the model (independent of the compiler's lowering).</summary>
internal static class ReferenceModel
{
    public const uint KillProcess = 0x80000000;

    public static uint Decide(SeccompProfile profile, uint nr, uint arch, ReadOnlySpan<ulong> args)
    {
        if (arch != 0xC000003E || nr >= 0x40000000)
        {
            return KillProcess;
        }

        if (!SyscallTable.TryGetName((int)nr, out var name))
        {
            return Encode(profile.DefaultAction);
        }

        foreach (var rule in profile.Rules)
        {
            if (!rule.Names.Contains(name))
            {
                continue;
            }

            var all = true;
            foreach (var c in rule.Conditions)
            {
                all &= Holds(c, args[c.Index]);
            }

            if (all)
            {
                return Encode(rule.Action);
            }
        }

        return Encode(profile.DefaultAction);
    }

    private static bool Holds(ArgCondition c, ulong arg) => c.Op switch
    {
        ArgOperator.Eq => arg == c.Value,
        ArgOperator.Ne => arg != c.Value,
        ArgOperator.Lt => arg < c.Value,
        ArgOperator.Le => arg <= c.Value,
        ArgOperator.Gt => arg > c.Value,
        ArgOperator.Ge => arg >= c.Value,
        ArgOperator.MaskedEq => (arg & c.Mask) == c.Value,
        _ => throw new InvalidOperationException(),
    };

    private static uint Encode(SeccompAction action) => action.Kind switch
    {
        SeccompActionKind.Allow => 0x7fff0000,
        SeccompActionKind.Errno => 0x00050000 | (uint)action.Errno,
        SeccompActionKind.KillProcess => 0x80000000,
        SeccompActionKind.KillThread => 0,
        SeccompActionKind.Trap => 0x00030000,
        SeccompActionKind.Log => 0x7ffc0000,
        _ => throw new InvalidOperationException(),
    };
}
