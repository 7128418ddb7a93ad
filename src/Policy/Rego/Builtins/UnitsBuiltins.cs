using System.Globalization;

namespace Sandbox.Policy.Rego;

/// <summary>units.parse_bytes ("10MiB" → 10485760).</summary>
internal static class UnitsBuiltins
{
    private static readonly Dictionary<string, double> Multipliers = new(StringComparer.Ordinal)
    {
        [""] = 1, ["b"] = 1,
        ["k"] = 1e3, ["kb"] = 1e3, ["ki"] = 1024, ["kib"] = 1024,
        ["m"] = 1e6, ["mb"] = 1e6, ["mi"] = 1 << 20, ["mib"] = 1 << 20,
        ["g"] = 1e9, ["gb"] = 1e9, ["gi"] = 1 << 30, ["gib"] = 1 << 30,
        ["t"] = 1e12, ["tb"] = 1e12, ["ti"] = 1099511627776d, ["tib"] = 1099511627776d,
        ["p"] = 1e15, ["pb"] = 1e15, ["pi"] = 1125899906842624d, ["pib"] = 1125899906842624d,
    };

    public static void Register(BuiltinTable t)
    {
        t.Register("units.parse_bytes", 1, (a, _) =>
        {
            var s = BuiltinTable.Str(a, 0, "units.parse_bytes").Trim().Replace("\"", "", StringComparison.Ordinal);
            var i = 0;
            while (i < s.Length && (char.IsAsciiDigit(s[i]) || s[i] == '.')) i++;
            var num = s[..i];
            var unit = s[i..].Trim().ToLowerInvariant();
            if (num.Length == 0) throw new BuiltinException("units.parse_bytes: no byte amount provided");
            if (!double.TryParse(num, NumberStyles.Float, CultureInfo.InvariantCulture, out var d))
                throw new BuiltinException($"units.parse_bytes: could not parse byte amount to a number: {num}");
            if (!Multipliers.TryGetValue(unit, out var m)) throw new BuiltinException($"units.parse_bytes: byte unit {unit} not recognized");
            return Value.Number(Math.Ceiling(d * m));
        });
    }
}
