using System.Globalization;
using System.Text;

namespace Sandbox.Policy.Rego;

/// <summary>
/// Go's fmt.Sprintf, as OPA's <c>sprintf</c> calls it: integers are Go <c>int</c>s, other numbers <c>float64</c>,
/// strings <c>string</c>, and every other value its Rego text (so <c>%t</c> of <c>true</c> is a bad verb, as in OPA).
/// Flags <c>- + # 0 space</c>, width, precision; verbs <c>v s q d b o x X c e E f F g G t %</c>.
/// </summary>
internal static class GoFormat
{
    private enum Kind { Int, Float, Str, Big, BigFloat }

    private readonly record struct Arg(Kind Kind, long I, double F, string S, System.Numerics.BigInteger B = default)
    {
        public string TypeName => Kind switch { Kind.Int => "int", Kind.Float => "float64", Kind.Big => "big.Int", Kind.BigFloat => "*big.Float", _ => "string" };
    }

    private struct Spec
    {
        public bool Minus, Plus, Sharp, Zero, Space;
        public int Width, Precision;
    }

    public static string Sprintf(string format, Value[] values)
    {
        var args = values.Select(ToArg).ToArray();
        var sb = new StringBuilder();
        var argi = 0;
        var i = 0;
        while (i < format.Length)
        {
            var c = format[i++];
            if (c != '%')
            {
                sb.Append(c);
                continue;
            }
            var spec = new Spec { Width = -1, Precision = -1 };
            for (; i < format.Length; i++)
            {
                switch (format[i])
                {
                    case '-': spec.Minus = true; spec.Zero = false; continue;
                    case '+': spec.Plus = true; continue;
                    case '#': spec.Sharp = true; continue;
                    case '0': spec.Zero = !spec.Minus; continue;
                    case ' ': spec.Space = true; continue;
                }
                break;
            }
            spec.Width = Digits(format, ref i);
            if (i < format.Length && format[i] == '.')
            {
                i++;
                spec.Precision = Math.Max(0, Digits(format, ref i));
            }
            if (i >= format.Length)
            {
                sb.Append("%!(NOVERB)");
                break;
            }
            var verb = format[i++];
            if (verb == '%')
            {
                sb.Append('%');
                continue;
            }
            if (argi >= args.Length)
            {
                sb.Append("%!").Append(verb).Append("(MISSING)");
                continue;
            }
            Format(sb, args[argi++], verb, spec);
        }
        if (argi < args.Length)
            sb.Append("%!(EXTRA ").Append(string.Join(", ", args.Skip(argi).Select(a => a.TypeName + "=" + Plain(a)))).Append(')');
        return sb.ToString();
    }

    private static Arg ToArg(Value v) => v switch
    {
        // A number written with an exponent (1e20, 2e308) is not an integer to OPA's sprintf (its text is not digits):
        // a float64, or past a double's range a Go *big.Float.
        NumberValue { Big: { } big, FloatLiteral: not null } n when double.IsInfinity(n.V) => new Arg(Kind.BigFloat, 0, 0, "", big),
        NumberValue { FloatLiteral: not null } n => new Arg(Kind.Float, 0, n.V, ""),
        NumberValue n when n.TryGetInt(out var l) => new Arg(Kind.Int, l, 0, ""),
        // An integer beyond int64 is a Go *big.Int, which prints in base 10 for %d, %s and %v.
        NumberValue { Big: { } big } => new Arg(Kind.Big, 0, 0, "", big),
        NumberValue n => new Arg(Kind.Float, 0, n.V, ""),
        StringValue s => new Arg(Kind.Str, 0, 0, s.V),
        _ => new Arg(Kind.Str, 0, 0, StringBuiltins.FormatValue(v)),
    };

    private static int Digits(string s, ref int i)
    {
        var start = i;
        var n = 0;
        while (i < s.Length && char.IsAsciiDigit(s[i]) && n < 1_000_000) n = (n * 10) + (s[i++] - '0');
        return i == start ? -1 : n;
    }

    private static string Plain(Arg a) => a.Kind switch
    {
        Kind.Int => a.I.ToString(CultureInfo.InvariantCulture),
        Kind.Float => FormatFloat(a.F, 'g', -1),
        Kind.Big => a.B.ToString(CultureInfo.InvariantCulture),
        Kind.BigFloat => BigFloat(a.B, 'g', -1),
        _ => a.S,
    };

    private static void Format(StringBuilder sb, Arg a, char verb, Spec spec)
    {
        string? body = null;
        var numeric = false;
        switch (a.Kind)
        {
            case Kind.Int:
                numeric = true;
                body = verb switch
                {
                    'v' or 'd' => Integer(a.I, 10, spec, ""),
                    'b' => Integer(a.I, 2, spec, spec.Sharp ? "0b" : ""),
                    'o' => Integer(a.I, 8, spec, spec.Sharp ? "0" : ""),
                    'x' => Integer(a.I, 16, spec, spec.Sharp ? "0x" : ""),
                    'X' => Integer(a.I, 16, spec, spec.Sharp ? "0X" : "").ToUpperInvariant(),
                    'c' => a.I is >= 0 and <= 0x10FFFF ? char.ConvertFromUtf32((int)a.I) : "\uFFFD",
                    'e' or 'E' or 'f' or 'F' or 'g' or 'G' => null,
                    _ => null,
                };
                if (verb == 'c') numeric = false;
                break;
            case Kind.Float:
                numeric = true;
                body = verb switch
                {
                    'v' => Signed(FormatFloat(a.F, 'g', spec.Precision), spec),
                    'e' or 'E' or 'f' or 'F' => Signed(FormatFloat(a.F, verb, spec.Precision < 0 ? 6 : spec.Precision), spec),
                    'g' or 'G' => Signed(FormatFloat(a.F, verb, spec.Precision), spec),
                    _ => null,
                };
                break;
            case Kind.Big:
                numeric = true;
                var mag = System.Numerics.BigInteger.Abs(a.B);
                var bigDigits = verb switch
                {
                    'v' or 'd' or 's' => mag.ToString(CultureInfo.InvariantCulture),
                    'x' => mag.ToString("x", CultureInfo.InvariantCulture).TrimStart('0'),
                    'X' => mag.ToString("X", CultureInfo.InvariantCulture).TrimStart('0'),
                    _ => null,
                };
                if (bigDigits is not null)
                {
                    var prefix = spec.Sharp && verb == 'x' ? "0x" : spec.Sharp && verb == 'X' ? "0X" : "";
                    if (spec.Precision > bigDigits.Length) bigDigits = new string('0', spec.Precision - bigDigits.Length) + bigDigits;
                    body = (a.B.Sign < 0 ? "-" : spec.Plus ? "+" : spec.Space ? " " : "") + prefix + bigDigits;
                }
                break;
            case Kind.BigFloat:
                numeric = true;
                body = verb switch
                {
                    'v' => Signed(BigFloat(a.B, 'g', spec.Precision), spec),
                    'e' or 'E' or 'f' or 'F' => Signed(BigFloat(a.B, verb, spec.Precision < 0 ? 6 : spec.Precision), spec),
                    'g' or 'G' => Signed(BigFloat(a.B, verb, spec.Precision), spec),
                    _ => null,
                };
                break;
            case Kind.Str:
                var s = spec.Precision >= 0 ? new string(a.S.EnumerateRunes().Take(spec.Precision).SelectMany(r => r.ToString()).ToArray()) : a.S;
                body = verb switch
                {
                    'v' or 's' => s,
                    'q' => Quote(s),
                    'x' => Convert.ToHexStringLower(Encoding.UTF8.GetBytes(s)),
                    'X' => Convert.ToHexString(Encoding.UTF8.GetBytes(s)),
                    _ => null,
                };
                break;
        }
        if (body is null)
        {
            sb.Append("%!").Append(verb).Append('(').Append(a.TypeName).Append('=').Append(Plain(a)).Append(')');
            return;
        }
        Pad(sb, body, spec, numeric);
    }

    private static string Integer(long v, int radix, Spec spec, string prefix)
    {
        var digits = radix == 10
            ? Math.Abs((decimal)v).ToString(CultureInfo.InvariantCulture)
            : Convert.ToString(Math.Abs(v), radix);
        if (spec.Precision >= 0)
        {
            if (spec.Precision == 0 && v == 0) digits = "";
            else if (digits.Length < spec.Precision) digits = new string('0', spec.Precision - digits.Length) + digits;
        }
        var sign = v < 0 ? "-" : spec.Plus ? "+" : spec.Space ? " " : "";
        return sign + prefix + digits;
    }

    private static string Signed(string s, Spec spec) =>
        s.StartsWith('-') || s is "NaN" ? s : spec.Plus ? "+" + s : spec.Space ? " " + s : s;

    /// <summary>Width padding; '0' pads numbers after their sign (and prefix), as Go does.</summary>
    private static void Pad(StringBuilder sb, string body, Spec spec, bool numeric)
    {
        var len = body.EnumerateRunes().Count();
        if (spec.Width <= len)
        {
            sb.Append(body);
            return;
        }
        var fill = spec.Width - len;
        if (spec.Minus) sb.Append(body).Append(' ', fill);
        else if (spec.Zero && numeric && spec.Precision < 0 || spec.Zero && numeric && body.Contains('.', StringComparison.Ordinal))
        {
            var signLen = body.Length > 0 && body[0] is '-' or '+' or ' ' ? 1 : 0;
            if (body.Length > signLen + 1 && body[signLen] == '0' && body[signLen + 1] is 'x' or 'X' or 'b') signLen += 2;
            sb.Append(body, 0, signLen).Append('0', fill).Append(body, signLen, body.Length - signLen);
        }
        else sb.Append(' ', fill).Append(body);
    }

    /// <summary>Go's strconv.Quote for the common cases (JSON-style escapes, \x for other control bytes).</summary>
    private static string Quote(string s)
    {
        var sb = new StringBuilder("\"");
        foreach (var r in s.EnumerateRunes())
        {
            switch (r.Value)
            {
                case '"': sb.Append("\\\""); break;
                case '\\': sb.Append("\\\\"); break;
                case '\n': sb.Append("\\n"); break;
                case '\r': sb.Append("\\r"); break;
                case '\t': sb.Append("\\t"); break;
                case '\a': sb.Append("\\a"); break;
                case '\b': sb.Append("\\b"); break;
                case '\f': sb.Append("\\f"); break;
                case '\v': sb.Append("\\v"); break;
                default:
                    if (r.Value < 0x20 || r.Value == 0x7f) sb.Append("\\x").Append(r.Value.ToString("x2", CultureInfo.InvariantCulture));
                    else sb.Append(r.ToString());
                    break;
            }
        }
        return sb.Append('"').ToString();
    }

    /// <summary>strconv.FormatFloat for verbs e E f F g G (prec -1: the shortest representation that round-trips).</summary>
    internal static string FormatFloat(double v, char verb, int prec)
    {
        if (double.IsNaN(v)) return "NaN";
        if (double.IsInfinity(v)) return v > 0 ? "+Inf" : "-Inf";
        var neg = v < 0 || (v == 0 && double.IsNegative(v));
        var (digits, dp) = Decimal(Math.Abs(v), verb, prec);
        string body;
        switch (verb)
        {
            case 'e':
            case 'E':
                body = Exp(digits, dp, prec < 0 ? Math.Max(digits.Length - 1, 0) : prec, verb);
                break;
            case 'f':
            case 'F':
                body = Fixed(digits, dp, prec < 0 ? Math.Max(digits.Length - dp, 0) : prec);
                break;
            default:
                {
                    // strconv's %g: the exponent form when exp < -4 or exp >= the precision (6 when shortest).
                    var p = prec < 0 ? digits.Length : Math.Max(prec, 1);
                    var eprec = prec < 0 ? 6 : (p > digits.Length && digits.Length >= dp ? digits.Length : p);
                    var exp = dp - 1;
                    if (exp < -4 || exp >= eprec) body = Exp(digits, dp, Math.Min(p, digits.Length) - 1, verb == 'G' ? 'E' : 'e');
                    else body = Fixed(digits, dp, Math.Max((p > dp ? digits.Length : p) - dp, 0));
                    break;
                }
        }
        return neg ? "-" + body : body;
    }

    /// <summary>
    /// big.Float's Format for an exact integer past a double's range: its decimal digits, rounded half to even to the
    /// precision the verb asks for, then laid out as strconv does (the same %e/%f/%g rules).
    /// </summary>
    private static string BigFloat(System.Numerics.BigInteger v, char verb, int prec)
    {
        var all = System.Numerics.BigInteger.Abs(v).ToString(CultureInfo.InvariantCulture);
        var dp = all.Length;
        var digits = all.TrimEnd('0');
        var keep = verb switch
        {
            _ when prec < 0 => digits.Length,
            'e' or 'E' => prec + 1,
            'f' or 'F' => dp + prec,
            _ => Math.Max(prec, 1),
        };
        if (keep < digits.Length) (digits, dp) = RoundHalfEven(digits, dp, keep);
        string body;
        switch (verb)
        {
            case 'e':
            case 'E':
                body = Exp(digits, dp, prec < 0 ? Math.Max(digits.Length - 1, 0) : prec, verb);
                break;
            case 'f':
            case 'F':
                body = Fixed(digits, dp, prec < 0 ? 0 : prec);
                break;
            default:
                {
                    var p = prec < 0 ? digits.Length : Math.Max(prec, 1);
                    var eprec = prec < 0 ? 6 : (p > digits.Length && digits.Length >= dp ? digits.Length : p);
                    var exp = dp - 1;
                    if (exp < -4 || exp >= eprec) body = Exp(digits, dp, Math.Min(p, digits.Length) - 1, verb == 'G' ? 'E' : 'e');
                    else body = Fixed(digits, dp, Math.Max((p > dp ? digits.Length : p) - dp, 0));
                    break;
                }
        }
        return v.Sign < 0 ? "-" + body : body;
    }

    private static (string Digits, int Dp) RoundHalfEven(string digits, int dp, int keep)
    {
        var head = digits[..keep].ToCharArray();
        var rest = digits[keep..];
        var up = rest[0] > '5' || (rest[0] == '5' && (rest.Length > 1 || (keep > 0 && (head[keep - 1] - '0') % 2 == 1)));
        if (!up) return (new string(head).TrimEnd('0') is { Length: > 0 } t ? t : "0", dp);
        var i = keep - 1;
        for (; i >= 0 && head[i] == '9'; i--) head[i] = '0';
        if (i < 0) return ("1", dp + 1);
        head[i]++;
        return (new string(head).TrimEnd('0'), dp);
    }

    /// <summary>Decimal digits (no leading zeros; "0" for zero) and the decimal point position, rounded for the verb.</summary>
    private static (string Digits, int Dp) Decimal(double v, char verb, int prec)
    {
        if (v == 0) return ("0", 1);
        string text;
        if (prec < 0) text = v.ToString("R", CultureInfo.InvariantCulture);
        else if (verb is 'e' or 'E') text = v.ToString("E" + prec, CultureInfo.InvariantCulture);
        else if (verb is 'f' or 'F') text = v.ToString("F" + prec, CultureInfo.InvariantCulture);
        else text = v.ToString("E" + Math.Max(prec - 1, 0), CultureInfo.InvariantCulture);
        var e = text.IndexOfAny(['E', 'e']);
        var exp = e < 0 ? 0 : int.Parse(text[(e + 1)..], CultureInfo.InvariantCulture);
        var mant = e < 0 ? text : text[..e];
        var dot = mant.IndexOf('.');
        var intPart = dot < 0 ? mant : mant[..dot];
        var frac = dot < 0 ? "" : mant[(dot + 1)..];
        var all = intPart + frac;
        var dp = intPart.Length + exp;
        var lead = 0;
        while (lead < all.Length - 1 && all[lead] == '0') lead++;
        all = all[lead..];
        dp -= lead;
        if (prec < 0 || verb is 'g' or 'G') all = all.TrimEnd('0');
        if (all.Length == 0) return ("0", 1);
        return (all, dp);
    }

    private static string Exp(string digits, int dp, int fracDigits, char e)
    {
        var d = digits.PadRight(fracDigits + 1, '0');
        var sb = new StringBuilder();
        sb.Append(d[0]);
        if (fracDigits > 0) sb.Append('.').Append(d, 1, fracDigits);
        var exp = digits == "0" ? 0 : dp - 1;
        sb.Append(e).Append(exp < 0 ? '-' : '+');
        var abs = Math.Abs(exp);
        sb.Append(abs < 10 ? "0" + abs : abs.ToString(CultureInfo.InvariantCulture));
        return sb.ToString();
    }

    private static string Fixed(string digits, int dp, int fracDigits)
    {
        var sb = new StringBuilder();
        if (dp <= 0) sb.Append('0');
        else for (var i = 0; i < dp; i++) sb.Append(i < digits.Length ? digits[i] : '0');
        if (fracDigits > 0)
        {
            sb.Append('.');
            for (var i = 0; i < fracDigits; i++)
            {
                var idx = dp + i;
                sb.Append(idx >= 0 && idx < digits.Length ? digits[idx] : '0');
            }
        }
        return sb.ToString();
    }
}
