using System.Globalization;

namespace Sandbox.Policy.Rego;

/// <summary>Go's time.ParseDuration: a sequence of decimal numbers with units ns, us (µs), ms, s, m, h, e.g. "1h30m", "-1.5s".</summary>
internal static class Duration
{
    private static readonly (string Unit, decimal Ns)[] Units =
    [
        ("ns", 1m), ("us", 1e3m), ("µs", 1e3m), ("μs", 1e3m), ("ms", 1e6m), ("s", 1e9m), ("m", 60e9m), ("h", 3600e9m),
    ];

    /// <summary>Exact nanoseconds (decimal arithmetic, the fraction of a nanosecond truncated, as Go); beyond int64 is an error.</summary>
    public static NumberValue ParseNs(string text)
    {
        var s = text;
        var sign = 1m;
        if (s.StartsWith('-') || s.StartsWith('+'))
        {
            sign = s[0] == '-' ? -1 : 1;
            s = s[1..];
        }
        if (s == "0") return new NumberValue(0);
        if (s.Length == 0) throw Invalid(text);
        var total = 0m;
        var i = 0;
        while (i < s.Length)
        {
            var start = i;
            while (i < s.Length && (char.IsAsciiDigit(s[i]) || s[i] == '.')) i++;
            if (i == start || !decimal.TryParse(s[start..i], NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var n)) throw Invalid(text);
            var unitStart = i;
            while (i < s.Length && !char.IsAsciiDigit(s[i]) && s[i] != '.') i++;
            var unit = s[unitStart..i];
            if (unit.Length == 0) throw new BuiltinException($"time.parse_duration_ns: time: missing unit in duration \"{text}\"");
            var match = Array.Find(Units, u => u.Unit == unit);
            if (match.Unit is null) throw new BuiltinException($"time.parse_duration_ns: time: unknown unit \"{unit}\" in duration \"{text}\"");
            try
            {
                total += n * match.Ns;
            }
            catch (OverflowException)
            {
                throw Invalid(text);
            }
        }
        total = decimal.Truncate(sign * total);
        if (total < long.MinValue || total > long.MaxValue) throw Invalid(text);
        return NumberValue.Of((long)total);
    }

    private static BuiltinException Invalid(string text) => new($"time.parse_duration_ns: time: invalid duration \"{text}\"");
}
