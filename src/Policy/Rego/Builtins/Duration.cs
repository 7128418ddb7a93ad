using System.Globalization;

namespace Sandbox.Policy.Rego;

/// <summary>Go's time.ParseDuration: a sequence of decimal numbers with units ns, us (µs), ms, s, m, h, e.g. "1h30m", "-1.5s".</summary>
internal static class Duration
{
    private static readonly (string Unit, double Ns)[] Units =
    [
        ("ns", 1), ("us", 1e3), ("µs", 1e3), ("μs", 1e3), ("ms", 1e6), ("s", 1e9), ("m", 60e9), ("h", 3600e9),
    ];

    public static double ParseNs(string text)
    {
        var s = text;
        var sign = 1.0;
        if (s.StartsWith('-') || s.StartsWith('+'))
        {
            sign = s[0] == '-' ? -1 : 1;
            s = s[1..];
        }
        if (s == "0") return 0;
        if (s.Length == 0) throw Invalid(text);
        var total = 0.0;
        var i = 0;
        while (i < s.Length)
        {
            var start = i;
            while (i < s.Length && (char.IsAsciiDigit(s[i]) || s[i] == '.')) i++;
            if (i == start || !double.TryParse(s[start..i], NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var n)) throw Invalid(text);
            var unitStart = i;
            while (i < s.Length && !char.IsAsciiDigit(s[i]) && s[i] != '.') i++;
            var unit = s[unitStart..i];
            if (unit.Length == 0) throw new BuiltinException($"time.parse_duration_ns: time: missing unit in duration \"{text}\"");
            var match = Array.Find(Units, u => u.Unit == unit);
            if (match.Unit is null) throw new BuiltinException($"time.parse_duration_ns: time: unknown unit \"{unit}\" in duration \"{text}\"");
            total += n * match.Ns;
        }
        return sign * total;
    }

    private static BuiltinException Invalid(string text) => new($"time.parse_duration_ns: time: invalid duration \"{text}\"");
}
