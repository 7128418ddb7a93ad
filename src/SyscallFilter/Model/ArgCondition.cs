namespace Sandbox.SyscallFilter;

/// <summary>How a 64-bit syscall argument is compared (unsigned, like libseccomp's SCMP_CMP_*).</summary>
public enum ArgOperator
{
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    /// <summary>(arg &amp; <see cref="ArgCondition.Mask"/>) == <see cref="ArgCondition.Value"/>.</summary>
    MaskedEq,
}

/// <summary>
/// One condition on syscall argument <paramref name="Index"/> (0-5), compared as an unsigned 64-bit value.
/// For <see cref="ArgOperator.MaskedEq"/>: <c>(arg &amp; Mask) == Value</c>; <paramref name="Mask"/> is ignored otherwise.
/// </summary>
public sealed record ArgCondition(int Index, ArgOperator Op, ulong Value, ulong Mask = 0)
{
    /// <summary>The highest argument index a syscall has.</summary>
    public const int MaxIndex = 5;

    /// <summary>Whether a 64-bit argument value satisfies this condition (the profile's meaning).</summary>
    public bool IsSatisfiedBy(ulong arg) => Op switch
    {
        ArgOperator.Eq => arg == Value,
        ArgOperator.Ne => arg != Value,
        ArgOperator.Lt => arg < Value,
        ArgOperator.Le => arg <= Value,
        ArgOperator.Gt => arg > Value,
        ArgOperator.Ge => arg >= Value,
        ArgOperator.MaskedEq => (arg & Mask) == Value,
        _ => throw new InvalidOperationException($"unknown argument operator {Op}"),
    };

    /// <summary>The profile spelling of the operator: eq, ne, lt, le, gt, ge, masked_eq.</summary>
    public static string OperatorName(ArgOperator op) => op switch
    {
        ArgOperator.Eq => "eq",
        ArgOperator.Ne => "ne",
        ArgOperator.Lt => "lt",
        ArgOperator.Le => "le",
        ArgOperator.Gt => "gt",
        ArgOperator.Ge => "ge",
        ArgOperator.MaskedEq => "masked_eq",
        _ => op.ToString(),
    };

    public override string ToString() => Op == ArgOperator.MaskedEq
        ? $"arg{Index} & 0x{Mask:x} == 0x{Value:x}"
        : $"arg{Index} {OperatorName(Op)} 0x{Value:x}";
}
