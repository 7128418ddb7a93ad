using System.Globalization;
using System.Text;

namespace Sandbox.Policy.Rego;

/// <summary>
/// Go's reference-time layouts ("2006-01-02T15:04:05Z07:00"), as OPA's time.format and time.parse_ns use them,
/// over exact int64 nanoseconds. Zone abbreviations (MST) are written for UTC only and read as UTC/GMT only: any
/// other abbreviation is an error rather than a guess.
/// </summary>
internal static class GoTimeLayout
{
    /// <summary>Go's named layouts, accepted by name as OPA does (time.format([ns, tz, "RFC1123Z"])).</summary>
    public static readonly Dictionary<string, string> Named = new(StringComparer.Ordinal)
    {
        ["ANSIC"] = "Mon Jan _2 15:04:05 2006",
        ["UnixDate"] = "Mon Jan _2 15:04:05 MST 2006",
        ["RubyDate"] = "Mon Jan 02 15:04:05 -0700 2006",
        ["RFC822"] = "02 Jan 06 15:04 MST",
        ["RFC822Z"] = "02 Jan 06 15:04 -0700",
        ["RFC850"] = "Monday, 02-Jan-06 15:04:05 MST",
        ["RFC1123"] = "Mon, 02 Jan 2006 15:04:05 MST",
        ["RFC1123Z"] = "Mon, 02 Jan 2006 15:04:05 -0700",
        ["RFC3339"] = "2006-01-02T15:04:05Z07:00",
        ["RFC3339Nano"] = "2006-01-02T15:04:05.999999999Z07:00",
        ["Kitchen"] = "3:04PM",
        ["Stamp"] = "Jan _2 15:04:05",
        ["StampMilli"] = "Jan _2 15:04:05.000",
        ["StampMicro"] = "Jan _2 15:04:05.000000",
        ["StampNano"] = "Jan _2 15:04:05.000000000",
        ["DateTime"] = "2006-01-02 15:04:05",
        ["DateOnly"] = "2006-01-02",
        ["TimeOnly"] = "15:04:05",
    };

    private enum Std
    {
        Literal, LongMonth, Month, NumMonth, ZeroMonth, LongWeekDay, WeekDay, Day, UnderDay, ZeroDay, UnderYearDay, ZeroYearDay,
        Hour, Hour12, ZeroHour12, Minute, ZeroMinute, Second, ZeroSecond, LongYear, Year, PM, pm, TZ,
        ISO8601TZ, ISO8601SecondsTZ, ISO8601ShortTZ, ISO8601ColonTZ, ISO8601ColonSecondsTZ,
        NumTZ, NumSecondsTz, NumShortTZ, NumColonTZ, NumColonSecondsTZ, FracSecond0, FracSecond9,
    }

    private readonly record struct Chunk(Std Kind, string Text, int Digits = 0, char Sep = '.');

    private static readonly string[] LongMonths = CultureInfo.InvariantCulture.DateTimeFormat.MonthNames[..12];
    private static readonly string[] ShortMonths = CultureInfo.InvariantCulture.DateTimeFormat.AbbreviatedMonthNames[..12];
    private static readonly string[] LongDays = CultureInfo.InvariantCulture.DateTimeFormat.DayNames;
    private static readonly string[] ShortDays = CultureInfo.InvariantCulture.DateTimeFormat.AbbreviatedDayNames;

    /// <summary>Splits a layout into literal text and Go's std chunks (the order of Go's nextStdChunk).</summary>
    private static List<Chunk> Chunks(string layout)
    {
        var list = new List<Chunk>();
        var lit = new StringBuilder();
        var i = 0;
        void Add(Std k, int len, int digits = 0, char sep = '.')
        {
            if (lit.Length > 0) list.Add(new Chunk(Std.Literal, lit.ToString()));
            lit.Clear();
            list.Add(new Chunk(k, layout.Substring(i, len), digits, sep));
            i += len;
        }
        bool At(string s) => string.CompareOrdinal(layout, i, s, 0, s.Length) == 0;
        while (i < layout.Length)
        {
            var c = layout[i];
            switch (c)
            {
                case 'J' when At("January"): Add(Std.LongMonth, 7); continue;
                case 'J' when At("Jan"): Add(Std.Month, 3); continue;
                case 'M' when At("Monday"): Add(Std.LongWeekDay, 6); continue;
                case 'M' when At("Mon"): Add(Std.WeekDay, 3); continue;
                case 'M' when At("MST"): Add(Std.TZ, 3); continue;
                case '0' when At("002"): Add(Std.ZeroYearDay, 3); continue;
                case '0' when i + 1 < layout.Length && layout[i + 1] is >= '1' and <= '6':
                    Add(layout[i + 1] switch { '1' => Std.ZeroMonth, '2' => Std.ZeroDay, '3' => Std.ZeroHour12, '4' => Std.ZeroMinute, '5' => Std.ZeroSecond, _ => Std.Year }, 2);
                    continue;
                case '1' when At("15"): Add(Std.Hour, 2); continue;
                case '1': Add(Std.NumMonth, 1); continue;
                case '2' when At("2006"): Add(Std.LongYear, 4); continue;
                case '2': Add(Std.Day, 1); continue;
                case '_' when At("_2006"):
                    lit.Append('_');
                    i++;
                    Add(Std.LongYear, 4);
                    continue;
                case '_' when At("__2"): Add(Std.UnderYearDay, 3); continue;
                case '_' when At("_2"): Add(Std.UnderDay, 2); continue;
                case '3': Add(Std.Hour12, 1); continue;
                case '4': Add(Std.Minute, 1); continue;
                case '5': Add(Std.Second, 1); continue;
                case 'P' when At("PM"): Add(Std.PM, 2); continue;
                case 'p' when At("pm"): Add(Std.pm, 2); continue;
                case '-' when At("-070000"): Add(Std.NumSecondsTz, 7); continue;
                case '-' when At("-07:00:00"): Add(Std.NumColonSecondsTZ, 9); continue;
                case '-' when At("-0700"): Add(Std.NumTZ, 5); continue;
                case '-' when At("-07:00"): Add(Std.NumColonTZ, 6); continue;
                case '-' when At("-07"): Add(Std.NumShortTZ, 3); continue;
                case 'Z' when At("Z070000"): Add(Std.ISO8601SecondsTZ, 7); continue;
                case 'Z' when At("Z07:00:00"): Add(Std.ISO8601ColonSecondsTZ, 9); continue;
                case 'Z' when At("Z0700"): Add(Std.ISO8601TZ, 5); continue;
                case 'Z' when At("Z07:00"): Add(Std.ISO8601ColonTZ, 6); continue;
                case 'Z' when At("Z07"): Add(Std.ISO8601ShortTZ, 3); continue;
                case '.' or ',' when i + 1 < layout.Length && layout[i + 1] is '0' or '9':
                    {
                        var ch = layout[i + 1];
                        var j = i + 1;
                        while (j < layout.Length && layout[j] == ch) j++;
                        if (j < layout.Length && char.IsAsciiDigit(layout[j])) break; // not a fraction (Go: "std" only when no digit follows)
                        Add(ch == '0' ? Std.FracSecond0 : Std.FracSecond9, j - i, j - i - 1, c);
                        continue;
                    }
            }
            lit.Append(c);
            i++;
        }
        if (lit.Length > 0) list.Add(new Chunk(Std.Literal, lit.ToString()));
        return list;
    }

    public static string Resolve(string layout) => Named.TryGetValue(layout, out var l) ? l : layout;

    /// <summary>Formats <paramref name="t"/> (a wall clock with its offset) plus nanoseconds within the second.</summary>
    public static string Format(string layout, DateTimeOffset t, int nanos, bool isUtc, string fn)
    {
        var sb = new StringBuilder();
        var inv = CultureInfo.InvariantCulture;
        var hour12 = t.Hour % 12 == 0 ? 12 : t.Hour % 12;
        var offset = (int)t.Offset.TotalSeconds;
        foreach (var c in Chunks(Resolve(layout)))
        {
            switch (c.Kind)
            {
                case Std.Literal: sb.Append(c.Text); break;
                case Std.LongMonth: sb.Append(LongMonths[t.Month - 1]); break;
                case Std.Month: sb.Append(ShortMonths[t.Month - 1]); break;
                case Std.NumMonth: sb.Append(t.Month.ToString(inv)); break;
                case Std.ZeroMonth: sb.Append(t.Month.ToString("00", inv)); break;
                case Std.LongWeekDay: sb.Append(LongDays[(int)t.DayOfWeek]); break;
                case Std.WeekDay: sb.Append(ShortDays[(int)t.DayOfWeek]); break;
                case Std.Day: sb.Append(t.Day.ToString(inv)); break;
                case Std.UnderDay: sb.Append(t.Day < 10 ? " " : "").Append(t.Day.ToString(inv)); break;
                case Std.ZeroDay: sb.Append(t.Day.ToString("00", inv)); break;
                case Std.UnderYearDay: sb.Append(t.DayOfYear.ToString(inv).PadLeft(3)); break;
                case Std.ZeroYearDay: sb.Append(t.DayOfYear.ToString("000", inv)); break;
                case Std.Hour: sb.Append(t.Hour.ToString("00", inv)); break;
                case Std.Hour12: sb.Append(hour12.ToString(inv)); break;
                case Std.ZeroHour12: sb.Append(hour12.ToString("00", inv)); break;
                case Std.Minute: sb.Append(t.Minute.ToString(inv)); break;
                case Std.ZeroMinute: sb.Append(t.Minute.ToString("00", inv)); break;
                case Std.Second: sb.Append(t.Second.ToString(inv)); break;
                case Std.ZeroSecond: sb.Append(t.Second.ToString("00", inv)); break;
                case Std.LongYear: sb.Append(t.Year.ToString("0000", inv)); break;
                case Std.Year: sb.Append((t.Year % 100).ToString("00", inv)); break;
                case Std.PM: sb.Append(t.Hour >= 12 ? "PM" : "AM"); break;
                case Std.pm: sb.Append(t.Hour >= 12 ? "pm" : "am"); break;
                case Std.TZ:
                    if (!isUtc) throw new BuiltinException($"{fn}: zone abbreviations (MST in the layout) are supported for UTC only");
                    sb.Append("UTC");
                    break;
                case Std.FracSecond0:
                    sb.Append(c.Sep).Append(nanos.ToString("000000000", inv)[..Math.Min(c.Digits, 9)]);
                    break;
                case Std.FracSecond9:
                    {
                        var digits = nanos.ToString("000000000", inv)[..Math.Min(c.Digits, 9)].TrimEnd('0');
                        if (digits.Length > 0) sb.Append(c.Sep).Append(digits);
                        break;
                    }
                default:
                    FormatZone(sb, c.Kind, offset);
                    break;
            }
        }
        return sb.ToString();
    }

    private static void FormatZone(StringBuilder sb, Std kind, int offset)
    {
        if (offset == 0 && kind is Std.ISO8601TZ or Std.ISO8601SecondsTZ or Std.ISO8601ShortTZ or Std.ISO8601ColonTZ or Std.ISO8601ColonSecondsTZ)
        {
            sb.Append('Z');
            return;
        }
        var inv = CultureInfo.InvariantCulture;
        var abs = Math.Abs(offset);
        sb.Append(offset < 0 ? '-' : '+').Append((abs / 3600).ToString("00", inv));
        var colon = kind is Std.ISO8601ColonTZ or Std.NumColonTZ or Std.ISO8601ColonSecondsTZ or Std.NumColonSecondsTZ;
        if (kind is not (Std.ISO8601ShortTZ or Std.NumShortTZ))
        {
            if (colon) sb.Append(':');
            sb.Append((abs / 60 % 60).ToString("00", inv));
        }
        if (kind is Std.ISO8601SecondsTZ or Std.NumSecondsTz or Std.ISO8601ColonSecondsTZ or Std.NumColonSecondsTZ)
        {
            if (colon) sb.Append(':');
            sb.Append((abs % 60).ToString("00", inv));
        }
    }

    /// <summary>Parses <paramref name="value"/> with a Go layout; the result is nanoseconds since the epoch (exact, unbounded).</summary>
    public static System.Numerics.BigInteger Parse(string layout, string value, string fn)
    {
        int year = 1, month = 1, day = 1, hour = 0, minute = 0, second = 0, yday = -1;
        long nanos = 0;
        int? offset = null;
        bool? pm = null;
        var pos = 0;
        BuiltinException Bad(string what) => new($"{fn}: parsing time \"{value}\" as \"{layout}\": cannot parse {what}");
        int Num(int min, int max, bool fixedWidth)
        {
            var start = pos;
            while (pos < value.Length && char.IsAsciiDigit(value[pos]) && pos - start < max) pos++;
            if (pos - start < min || (fixedWidth && pos - start != max)) throw Bad($"\"{value[start..]}\"");
            return int.Parse(value.AsSpan(start, pos - start), CultureInfo.InvariantCulture);
        }
        int Name(string[] names)
        {
            for (var k = 0; k < names.Length; k++)
                if (string.Compare(value, pos, names[k], 0, names[k].Length, StringComparison.OrdinalIgnoreCase) == 0 && value.Length - pos >= names[k].Length)
                {
                    pos += names[k].Length;
                    return k;
                }
            throw Bad($"\"{value[pos..]}\"");
        }
        var chunks = Chunks(Resolve(layout));
        for (var ci = 0; ci < chunks.Count; ci++)
        {
            var c = chunks[ci];
            switch (c.Kind)
            {
                case Std.Literal:
                    if (string.CompareOrdinal(value, pos, c.Text, 0, c.Text.Length) != 0 || value.Length - pos < c.Text.Length) throw Bad($"\"{value[pos..]}\" as \"{c.Text}\"");
                    pos += c.Text.Length;
                    break;
                case Std.LongMonth: month = Name(LongMonths) + 1; break;
                case Std.Month: month = Name(ShortMonths) + 1; break;
                case Std.NumMonth: month = Num(1, 2, false); break;
                case Std.ZeroMonth: month = Num(2, 2, true); break;
                case Std.LongWeekDay: Name(LongDays); break;
                case Std.WeekDay: Name(ShortDays); break;
                case Std.Day: day = Num(1, 2, false); break;
                case Std.UnderDay:
                    if (pos < value.Length && value[pos] == ' ') pos++;
                    day = Num(1, 2, false);
                    break;
                case Std.ZeroDay: day = Num(2, 2, true); break;
                case Std.UnderYearDay:
                    while (pos < value.Length && value[pos] == ' ') pos++;
                    yday = Num(1, 3, false);
                    break;
                case Std.ZeroYearDay: yday = Num(3, 3, true); break;
                case Std.Hour: hour = Num(2, 2, true); break;
                case Std.Hour12: hour = Num(1, 2, false); break;
                case Std.ZeroHour12: hour = Num(2, 2, true); break;
                case Std.Minute: minute = Num(1, 2, false); break;
                case Std.ZeroMinute: minute = Num(2, 2, true); break;
                case Std.Second:
                case Std.ZeroSecond:
                    second = c.Kind == Std.Second ? Num(1, 2, false) : Num(2, 2, true);
                    // Go reads a fraction after the seconds even when the layout has none.
                    if (pos + 1 < value.Length && value[pos] is '.' or ',' && char.IsAsciiDigit(value[pos + 1])
                        && !(ci + 1 < chunks.Count && chunks[ci + 1].Kind is Std.FracSecond0 or Std.FracSecond9))
                        nanos = Fraction();
                    break;
                case Std.LongYear: year = Num(4, 4, true); break;
                case Std.Year:
                    year = Num(2, 2, true);
                    year += year >= 69 ? 1900 : 2000;
                    break;
                case Std.PM:
                case Std.pm:
                    if (value.Length - pos < 2) throw Bad("AM/PM");
                    var ampm = value.Substring(pos, 2).ToUpperInvariant();
                    if (ampm is not ("AM" or "PM")) throw Bad($"\"{value[pos..]}\" as AM/PM");
                    pm = ampm == "PM";
                    pos += 2;
                    break;
                case Std.TZ:
                    if (string.CompareOrdinal(value, pos, "UTC", 0, 3) == 0 || string.CompareOrdinal(value, pos, "GMT", 0, 3) == 0) pos += 3;
                    else throw new BuiltinException($"{fn}: parsing time \"{value}\": zone abbreviations other than UTC and GMT are not supported");
                    offset = 0;
                    break;
                case Std.FracSecond0:
                case Std.FracSecond9:
                    if (pos < value.Length && value[pos] is '.' or ',') nanos = Fraction();
                    else if (c.Kind == Std.FracSecond0) throw Bad("fractional second");
                    break;
                default:
                    offset = ParseZone(c.Kind);
                    break;
            }
        }
        if (pos != value.Length) throw new BuiltinException($"{fn}: parsing time \"{value}\": extra text: \"{value[pos..]}\"");
        if (pm is { } isPm)
        {
            if (hour > 12) throw Bad("hour");
            if (isPm && hour < 12) hour += 12;
            else if (!isPm && hour == 12) hour = 0;
        }
        DateTime wall;
        try
        {
            wall = yday >= 0 ? new DateTime(year, 1, 1).AddDays(yday - 1) : new DateTime(year, month, day);
            if (hour > 23 || minute > 59 || second > 59) throw new ArgumentOutOfRangeException(nameof(value));
            wall = wall.AddHours(hour).AddMinutes(minute).AddSeconds(second);
        }
        catch (ArgumentOutOfRangeException)
        {
            throw new BuiltinException($"{fn}: parsing time \"{value}\": day, month or time of day out of range");
        }
        var seconds = (wall.Ticks - DateTime.UnixEpoch.Ticks) / TimeSpan.TicksPerSecond - (offset ?? 0);
        return (new System.Numerics.BigInteger(seconds) * 1_000_000_000) + nanos;

        long Fraction()
        {
            pos++; // the separator
            var start = pos;
            while (pos < value.Length && char.IsAsciiDigit(value[pos])) pos++;
            var digits = value[start..pos];
            if (digits.Length > 9) digits = digits[..9];
            return long.Parse(digits.PadRight(9, '0'), CultureInfo.InvariantCulture);
        }

        int ParseZone(Std kind)
        {
            if (kind is Std.ISO8601TZ or Std.ISO8601SecondsTZ or Std.ISO8601ShortTZ or Std.ISO8601ColonTZ or Std.ISO8601ColonSecondsTZ
                && pos < value.Length && value[pos] == 'Z')
            {
                pos++;
                return 0;
            }
            if (pos >= value.Length || value[pos] is not ('+' or '-')) throw Bad("time zone offset");
            var sign = value[pos++] == '-' ? -1 : 1;
            var colon = kind is Std.ISO8601ColonTZ or Std.NumColonTZ or Std.ISO8601ColonSecondsTZ or Std.NumColonSecondsTZ;
            var h = Num(2, 2, true);
            var m = 0;
            var s = 0;
            if (kind is not (Std.ISO8601ShortTZ or Std.NumShortTZ))
            {
                if (colon && (pos >= value.Length || value[pos++] != ':')) throw Bad("time zone offset");
                m = Num(2, 2, true);
            }
            if (kind is Std.ISO8601SecondsTZ or Std.NumSecondsTz or Std.ISO8601ColonSecondsTZ or Std.NumColonSecondsTZ)
            {
                if (colon && (pos >= value.Length || value[pos++] != ':')) throw Bad("time zone offset");
                s = Num(2, 2, true);
            }
            return sign * ((h * 3600) + (m * 60) + s);
        }
    }
}
