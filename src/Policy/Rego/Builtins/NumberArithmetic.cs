using System.Numerics;

namespace Sandbox.Policy.Rego;

/// <summary>
/// Arithmetic on <see cref="NumberValue"/>: doubles while the result is exact, big integers when integer operands
/// give an integer beyond 2^53 (OPA's arithmetic is exact there). Fractions stay doubles; a fraction past a double's
/// range (OPA's big.Float) is a builtin error naming it, never an infinity.
/// </summary>
internal static class NumberArithmetic
{
    public static NumberValue Add(NumberValue x, NumberValue y)
    {
        if (x.Big is null && y.Big is null)
        {
            var r = x.V + y.V;
            if (Math.Abs(r) <= NumberValue.MaxExactDouble || !x.IsInteger || !y.IsInteger) return Fraction(r);
        }
        return x.TryGetBig(out var a) && y.TryGetBig(out var b) ? NumberValue.Of(a + b) : Fraction(x.V + y.V);
    }

    public static NumberValue Sub(NumberValue x, NumberValue y)
    {
        if (x.Big is null && y.Big is null)
        {
            var r = x.V - y.V;
            if (Math.Abs(r) <= NumberValue.MaxExactDouble || !x.IsInteger || !y.IsInteger) return Fraction(r);
        }
        return x.TryGetBig(out var a) && y.TryGetBig(out var b) ? NumberValue.Of(a - b) : Fraction(x.V - y.V);
    }

    public static NumberValue Mul(NumberValue x, NumberValue y)
    {
        if (x.Big is null && y.Big is null)
        {
            var r = x.V * y.V;
            if (Math.Abs(r) <= NumberValue.MaxExactDouble || !x.IsInteger || !y.IsInteger) return Fraction(r);
        }
        return x.TryGetBig(out var a) && y.TryGetBig(out var b) ? NumberValue.Of(a * b) : Fraction(x.V * y.V);
    }

    /// <summary>Division; exact when big integers divide evenly. The caller rejects a zero divisor.</summary>
    public static NumberValue Div(NumberValue x, NumberValue y)
    {
        if ((x.Big is not null || y.Big is not null) && x.TryGetBig(out var a) && y.TryGetBig(out var b))
        {
            var q = BigInteger.DivRem(a, b, out var rem);
            if (rem.IsZero) return NumberValue.Of(q);
        }
        var r = x.V / y.V;
        // A big integer past a double's range divided unevenly: the quotient's whole part exactly, plus the rest.
        if (double.IsInfinity(x.V) && x.TryGetBig(out var n) && y.TryGetBig(out var m))
            r = (double)BigInteger.DivRem(n, m, out var rest) + ((double)rest / (double)m);
        return Fraction(r);
    }

    /// <summary>A fractional result: refused by name when it is past a double's range.</summary>
    private static NumberValue Fraction(double r) => new(Finite(r, "arithmetic"));

    /// <summary>The double, or a builtin error when it is infinite (a number past a double's range, e.g. 2e308).</summary>
    public static double Finite(double d, string fn) => double.IsFinite(d) ? d
        : throw new BuiltinException($"{fn}: a number past a double's range is only supported as an exact integer (arbitrary-precision fractions are not supported)");

    /// <summary>Integer remainder (sign of the dividend, as Go). The caller rejects a zero divisor.</summary>
    public static NumberValue Rem(BigInteger a, BigInteger b) => NumberValue.Of(BigInteger.Remainder(a, b));
}
