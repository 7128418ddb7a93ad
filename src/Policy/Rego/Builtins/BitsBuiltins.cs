namespace Sandbox.Policy.Rego;

/// <summary>bits.and/or/xor/negate/lsh/rsh on integers (exact up to 2^53, like every number here).</summary>
internal static class BitsBuiltins
{
    public static void Register(BuiltinTable t)
    {
        t.Register("bits.and", 2, (a, _) => Value.Number(BuiltinTable.Int(a, 0, "bits.and") & BuiltinTable.Int(a, 1, "bits.and")));
        t.Register("bits.or", 2, (a, _) => Value.Number(BuiltinTable.Int(a, 0, "bits.or") | BuiltinTable.Int(a, 1, "bits.or")));
        t.Register("bits.xor", 2, (a, _) => Value.Number(BuiltinTable.Int(a, 0, "bits.xor") ^ BuiltinTable.Int(a, 1, "bits.xor")));
        t.Register("bits.negate", 1, (a, _) => Value.Number(~BuiltinTable.Int(a, 0, "bits.negate")));
        t.Register("bits.lsh", 2, (a, _) => Value.Number(Exact(Shift(a, "bits.lsh", left: true), "bits.lsh")));
        t.Register("bits.rsh", 2, (a, _) => Value.Number(Shift(a, "bits.rsh", left: false)));
    }

    private static double Shift(Value[] a, string fn, bool left)
    {
        var x = BuiltinTable.Int(a, 0, fn);
        var n = BuiltinTable.Int(a, 1, fn);
        if (n < 0) throw new BuiltinException($"{fn}: operand 2 must be an unsigned integer number but got a negative integer");
        if (!left) return n >= 63 ? (x < 0 ? -1 : 0) : x >> (int)n;
        return n >= 64 ? (x == 0 ? 0 : double.PositiveInfinity) : (double)x * Math.Pow(2, n);
    }

    /// <summary>A left shift past 2^53 cannot be held exactly: an error rather than a rounded number.</summary>
    private static double Exact(double v, string fn) =>
        Math.Abs(v) <= 9.007199254740992E15 ? v : throw new BuiltinException($"{fn}: result is beyond 2^53, which numbers here cannot hold exactly");
}
