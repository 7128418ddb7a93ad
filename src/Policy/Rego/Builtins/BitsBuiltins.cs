using System.Numerics;

namespace Sandbox.Policy.Rego;

/// <summary>bits.and/or/xor/negate/lsh/rsh on integers of any size (two's complement, as Go's big.Int).</summary>
internal static class BitsBuiltins
{
    /// <summary>A left shift is refused past this many bits (the result would be a number of megabytes).</summary>
    private const long MaxShift = 65_536;

    public static void Register(BuiltinTable t)
    {
        t.Register("bits.and", 2, (a, _) => NumberValue.Of(BuiltinTable.BigInt(a, 0, "bits.and") & BuiltinTable.BigInt(a, 1, "bits.and")));
        t.Register("bits.or", 2, (a, _) => NumberValue.Of(BuiltinTable.BigInt(a, 0, "bits.or") | BuiltinTable.BigInt(a, 1, "bits.or")));
        t.Register("bits.xor", 2, (a, _) => NumberValue.Of(BuiltinTable.BigInt(a, 0, "bits.xor") ^ BuiltinTable.BigInt(a, 1, "bits.xor")));
        t.Register("bits.negate", 1, (a, _) => NumberValue.Of(-BuiltinTable.BigInt(a, 0, "bits.negate") - 1));
        t.Register("bits.lsh", 2, (a, _) => NumberValue.Of(BuiltinTable.BigInt(a, 0, "bits.lsh") << Count(a, "bits.lsh", MaxShift)));
        t.Register("bits.rsh", 2, (a, _) =>
        {
            var x = BuiltinTable.BigInt(a, 0, "bits.rsh");
            var n = Count(a, "bits.rsh", long.MaxValue);
            return NumberValue.Of(n > x.GetBitLength() + 1 ? (x.Sign < 0 ? BigInteger.MinusOne : BigInteger.Zero) : x >> (int)n);
        });
    }

    private static int Count(Value[] a, string fn, long max)
    {
        var n = BuiltinTable.BigInt(a, 1, fn);
        if (n.Sign < 0) throw new BuiltinTypeException($"{fn}: operand 2 must be an unsigned integer number but got a negative integer");
        if (n > max) throw new BuiltinException($"{fn}: shift count {n} is beyond the {max} bits accepted");
        return n > int.MaxValue ? int.MaxValue : (int)n;
    }
}
