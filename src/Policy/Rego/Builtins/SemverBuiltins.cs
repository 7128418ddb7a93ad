using System.Globalization;
using System.Numerics;

namespace Sandbox.Policy.Rego;

/// <summary>
/// semver.is_valid and semver.compare (Semantic Versioning 2.0.0: MAJOR.MINOR.PATCH[-pre][+build], no "v" prefix,
/// no leading zeros in numeric parts; build metadata does not take part in the order).
/// </summary>
internal static class SemverBuiltins
{
    public static void Register(BuiltinTable t)
    {
        t.Register("semver.is_valid", 1, (a, _) => Value.Bool(a[0] is StringValue s && TryParse(s.V, out Version _)));
        t.Register("semver.compare", 2, (a, _) =>
        {
            var x = Parse(BuiltinTable.Str(a, 0, "semver.compare"));
            var y = Parse(BuiltinTable.Str(a, 1, "semver.compare"));
            return Value.Number(Math.Sign(Compare(x, y)));
        });
    }

    private sealed record Version(BigInteger Major, BigInteger Minor, BigInteger Patch, string[] Pre);

    private static Version Parse(string s) =>
        TryParse(s, out var v) ? v : throw new BuiltinException($"semver.compare: string \"{s}\" is not a valid SemVer");

    private static bool TryParse(string s, out Version v)
    {
        v = null!;
        var plus = s.IndexOf('+');
        if (plus >= 0)
        {
            if (!s[(plus + 1)..].Split('.').All(id => id.Length > 0 && id.All(IsIdentChar))) return false;
            s = s[..plus];
        }
        string[] pre = [];
        var dash = s.IndexOf('-');
        if (dash >= 0)
        {
            pre = s[(dash + 1)..].Split('.');
            if (!pre.All(id => id.Length > 0 && id.All(IsIdentChar) && !(IsNumeric(id) && id.Length > 1 && id[0] == '0'))) return false;
            s = s[..dash];
        }
        var core = s.Split('.');
        if (core.Length != 3 || !core.All(p => IsNumeric(p) && !(p.Length > 1 && p[0] == '0'))) return false;
        v = new Version(BigInteger.Parse(core[0], CultureInfo.InvariantCulture), BigInteger.Parse(core[1], CultureInfo.InvariantCulture),
            BigInteger.Parse(core[2], CultureInfo.InvariantCulture), pre);
        return true;
    }

    private static bool IsIdentChar(char c) => char.IsAsciiLetterOrDigit(c) || c == '-';

    private static bool IsNumeric(string s) => s.Length > 0 && s.All(char.IsAsciiDigit);

    private static int Compare(Version x, Version y)
    {
        var c = x.Major.CompareTo(y.Major);
        if (c == 0) c = x.Minor.CompareTo(y.Minor);
        if (c == 0) c = x.Patch.CompareTo(y.Patch);
        if (c != 0) return c;
        // A version without pre-release identifiers ranks above one with them.
        if (x.Pre.Length == 0 || y.Pre.Length == 0) return y.Pre.Length.CompareTo(x.Pre.Length);
        for (var i = 0; i < Math.Min(x.Pre.Length, y.Pre.Length); i++)
        {
            string p = x.Pre[i], q = y.Pre[i];
            c = (IsNumeric(p), IsNumeric(q)) switch
            {
                (true, true) => BigInteger.Parse(p, CultureInfo.InvariantCulture).CompareTo(BigInteger.Parse(q, CultureInfo.InvariantCulture)),
                (true, false) => -1,
                (false, true) => 1,
                _ => string.CompareOrdinal(p, q),
            };
            if (c != 0) return c;
        }
        return x.Pre.Length.CompareTo(y.Pre.Length);
    }
}
