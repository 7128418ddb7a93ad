using System.Globalization;
using System.Numerics;

namespace Sandbox.Policy.Rego;

/// <summary>
/// units.parse_bytes ("10MiB" → 10485760), as OPA: exact decimal arithmetic, the product truncated to an integer;
/// units.parse ("10Ki" → 10240, "100m" → 0.1): SI and binary suffixes, case-sensitive only for m (milli) vs M (mega),
/// not truncated.
/// </summary>
internal static class UnitsBuiltins
{
    private static readonly Dictionary<string, BigInteger> Multipliers = new(StringComparer.Ordinal)
    {
        [""] = 1, ["b"] = 1,
        ["k"] = BigInteger.Pow(10, 3), ["kb"] = BigInteger.Pow(10, 3), ["ki"] = BigInteger.One << 10, ["kib"] = BigInteger.One << 10,
        ["m"] = BigInteger.Pow(10, 6), ["mb"] = BigInteger.Pow(10, 6), ["mi"] = BigInteger.One << 20, ["mib"] = BigInteger.One << 20,
        ["g"] = BigInteger.Pow(10, 9), ["gb"] = BigInteger.Pow(10, 9), ["gi"] = BigInteger.One << 30, ["gib"] = BigInteger.One << 30,
        ["t"] = BigInteger.Pow(10, 12), ["tb"] = BigInteger.Pow(10, 12), ["ti"] = BigInteger.One << 40, ["tib"] = BigInteger.One << 40,
        ["p"] = BigInteger.Pow(10, 15), ["pb"] = BigInteger.Pow(10, 15), ["pi"] = BigInteger.One << 50, ["pib"] = BigInteger.One << 50,
        ["e"] = BigInteger.Pow(10, 18), ["eb"] = BigInteger.Pow(10, 18), ["ei"] = BigInteger.One << 60, ["eib"] = BigInteger.One << 60,
    };

    // units.parse: the unit's first letter keeps its case (m is milli, M mega), the rest is lower-cased.
    private static readonly Dictionary<string, BigInteger> SiMultipliers = new(StringComparer.Ordinal)
    {
        [""] = 1,
        ["k"] = BigInteger.Pow(10, 3), ["K"] = BigInteger.Pow(10, 3), ["ki"] = BigInteger.One << 10, ["Ki"] = BigInteger.One << 10,
        ["M"] = BigInteger.Pow(10, 6), ["mi"] = BigInteger.One << 20, ["Mi"] = BigInteger.One << 20,
        ["g"] = BigInteger.Pow(10, 9), ["G"] = BigInteger.Pow(10, 9), ["gi"] = BigInteger.One << 30, ["Gi"] = BigInteger.One << 30,
        ["t"] = BigInteger.Pow(10, 12), ["T"] = BigInteger.Pow(10, 12), ["ti"] = BigInteger.One << 40, ["Ti"] = BigInteger.One << 40,
        ["p"] = BigInteger.Pow(10, 15), ["P"] = BigInteger.Pow(10, 15), ["pi"] = BigInteger.One << 50, ["Pi"] = BigInteger.One << 50,
        ["e"] = BigInteger.Pow(10, 18), ["E"] = BigInteger.Pow(10, 18), ["ei"] = BigInteger.One << 60, ["Ei"] = BigInteger.One << 60,
    };

    public static void Register(BuiltinTable t)
    {
        t.Register("units.parse", 1, (a, _) =>
        {
            var s = BuiltinTable.Str(a, 0, "units.parse").Replace("\"", "", StringComparison.Ordinal);
            if (s.Contains(' ', StringComparison.Ordinal)) throw new BuiltinException("units.parse: spaces not allowed in resource strings");
            var i = 0;
            while (i < s.Length && (char.IsAsciiDigit(s[i]) || s[i] == '.')) i++;
            var num = s[..i];
            var unit = s[i..];
            if (num.Length == 0) throw new BuiltinException("units.parse: no amount provided");
            if (unit.Length > 1) unit = unit[..1] + unit[1..].ToLowerInvariant();
            if (!TryParseDecimal(num, out var mantissa, out var scale)) throw new BuiltinException("units.parse: could not parse amount to a number");
            var denominator = BigInteger.Pow(10, scale);
            if (unit == "m") denominator *= 1000;
            else if (SiMultipliers.TryGetValue(unit, out var m)) mantissa *= m;
            else throw new BuiltinException($"units.parse: unit {unit} not recognized (accepted: k K ki Ki m M mi Mi g G gi Gi t T ti Ti p P pi Pi e E ei Ei)");
            // Exact when the amount is whole; otherwise the nearest double of the exact quotient.
            var whole = BigInteger.DivRem(mantissa, denominator, out var rest);
            return rest.IsZero ? NumberValue.Of(whole) : Value.Number((double)mantissa / (double)denominator);
        });
        t.Register("units.parse_bytes", 1, (a, _) =>
        {
            var s = BuiltinTable.Str(a, 0, "units.parse_bytes").ToLowerInvariant().Trim('"');
            if (s.Contains(' ', StringComparison.Ordinal)) throw new BuiltinException("units.parse_bytes: spaces not allowed in resource strings");
            var i = 0;
            while (i < s.Length && (char.IsAsciiDigit(s[i]) || s[i] == '.')) i++;
            var num = s[..i];
            var unit = s[i..];
            if (num.Length == 0) throw new BuiltinException("units.parse_bytes: no byte amount provided");
            if (!Multipliers.TryGetValue(unit, out var m)) throw new BuiltinException($"units.parse_bytes: byte unit {unit} not recognized");
            if (!TryParseDecimal(num, out var mantissa, out var scale)) throw new BuiltinException("units.parse_bytes: could not parse byte amount to a number");
            // num = mantissa / 10^scale exactly; the product is truncated toward zero, as OPA's big.Float → big.Int.
            var total = mantissa * m / BigInteger.Pow(10, scale);
            return NumberValue.Of(total);
        });
    }

    /// <summary>"1.5" → (15, 1), ".5" → (5, 1), "12" → (12, 0); false for "1.2.3" or ".".</summary>
    private static bool TryParseDecimal(string s, out BigInteger mantissa, out int scale)
    {
        mantissa = 0;
        scale = 0;
        var dot = s.IndexOf('.');
        if (dot >= 0 && s.IndexOf('.', dot + 1) >= 0) return false;
        var digits = dot < 0 ? s : s[..dot] + s[(dot + 1)..];
        if (digits.Length == 0 || digits.Length > 400) return false;
        scale = dot < 0 ? 0 : s.Length - dot - 1;
        return BigInteger.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out mantissa);
    }
}
