using System.Numerics;

namespace Sandbox.Policy.Rego;

/// <summary>
/// Arithmetic on <see cref="NumberValue"/>: doubles while the result is exact, big integers when integer operands
/// give an integer beyond 2^53 (OPA's arithmetic is exact there). Fractions stay doubles.
/// </summary>
internal static class NumberArithmetic
{
    public static NumberValue Add(NumberValue x, NumberValue y)
    {
        if (x.Big is null && y.Big is null)
        {
            var r = x.V + y.V;
            if (Math.Abs(r) <= NumberValue.MaxExactDouble || !x.IsInteger || !y.IsInteger) return new NumberValue(r);
        }
        return x.TryGetBig(out var a) && y.TryGetBig(out var b) ? NumberValue.Of(a + b) : new NumberValue(x.V + y.V);
    }

    public static NumberValue Sub(NumberValue x, NumberValue y)
    {
        if (x.Big is null && y.Big is null)
        {
            var r = x.V - y.V;
            if (Math.Abs(r) <= NumberValue.MaxExactDouble || !x.IsInteger || !y.IsInteger) return new NumberValue(r);
        }
        return x.TryGetBig(out var a) && y.TryGetBig(out var b) ? NumberValue.Of(a - b) : new NumberValue(x.V - y.V);
    }

    public static NumberValue Mul(NumberValue x, NumberValue y)
    {
        if (x.Big is null && y.Big is null)
        {
            var r = x.V * y.V;
            if (Math.Abs(r) <= NumberValue.MaxExactDouble || !x.IsInteger || !y.IsInteger) return new NumberValue(r);
        }
        return x.TryGetBig(out var a) && y.TryGetBig(out var b) ? NumberValue.Of(a * b) : new NumberValue(x.V * y.V);
    }

    /// <summary>Division; exact when big integers divide evenly. The caller rejects a zero divisor.</summary>
    public static NumberValue Div(NumberValue x, NumberValue y)
    {
        if ((x.Big is not null || y.Big is not null) && x.TryGetBig(out var a) && y.TryGetBig(out var b))
        {
            var q = BigInteger.DivRem(a, b, out var rem);
            if (rem.IsZero) return NumberValue.Of(q);
        }
        return new NumberValue(x.V / y.V);
    }

    /// <summary>Integer remainder (sign of the dividend, as Go). The caller rejects a zero divisor.</summary>
    public static NumberValue Rem(BigInteger a, BigInteger b) => NumberValue.Of(BigInteger.Remainder(a, b));
}
