using System.Numerics;

namespace Sandbox.Policy.Rego;

/// <summary>
/// Time builtins over exact int64 nanoseconds since the Unix epoch, as OPA's (Go's time.Time). time.now_ns is off
/// unless the compile options enable it (decisions stay deterministic by default).
/// </summary>
internal static class TimeBuiltins
{
    private const long NsPerTick = 100;
    private static readonly BigInteger MinNs = long.MinValue, MaxNs = long.MaxValue;

    public static void Register(BuiltinTable t)
    {
        t.Register("time.now_ns", 0, (_, ctx) => NumberValue.Of(ctx.NowNs), requiresCapability: true);
        t.Register("time.parse_rfc3339_ns", 1, (a, _) =>
            InRange(GoTimeLayout.Parse(GoTimeLayout.Named["RFC3339"], BuiltinTable.Str(a, 0, "time.parse_rfc3339_ns"), "time.parse_rfc3339_ns"), "time.parse_rfc3339_ns"));
        t.Register("time.parse_ns", 2, (a, _) =>
            InRange(GoTimeLayout.Parse(BuiltinTable.Str(a, 0, "time.parse_ns"), BuiltinTable.Str(a, 1, "time.parse_ns"), "time.parse_ns"), "time.parse_ns"));
        t.Register("time.parse_duration_ns", 1, (a, _) => Duration.ParseNs(BuiltinTable.Str(a, 0, "time.parse_duration_ns")));
        t.Register("time.date", 1, (a, _) =>
        {
            var d = At(a[0], "time.date").Wall;
            return new ArrayValue([Value.Number(d.Year), Value.Number(d.Month), Value.Number(d.Day)]);
        });
        t.Register("time.clock", 1, (a, _) =>
        {
            var d = At(a[0], "time.clock").Wall;
            return new ArrayValue([Value.Number(d.Hour), Value.Number(d.Minute), Value.Number(d.Second)]);
        });
        t.Register("time.weekday", 1, (a, _) => Value.String(At(a[0], "time.weekday").Wall.DayOfWeek.ToString()));
        t.Register("time.format", 1, (a, _) =>
        {
            var at = At(a[0], "time.format");
            var layout = a[0] is ArrayValue { Items: [_, _, StringValue l] } ? l.V : "RFC3339Nano";
            return Value.String(GoTimeLayout.Format(layout, at.Wall, at.Nanos, at.IsUtc, "time.format"));
        });
        t.Register("time.diff", 2, (a, _) => Diff(At(a[0], "time.diff"), At(a[1], "time.diff")));
        t.Register("time.add_date", 4, (a, _) =>
        {
            var at = At(a[0], "time.add_date");
            var years = BuiltinTable.Int(a, 1, "time.add_date");
            var months = BuiltinTable.Int(a, 2, "time.add_date");
            var days = BuiltinTable.Int(a, 3, "time.add_date");
            try
            {
                // Go's AddDate normalises (Jan 31 + 1 month = Mar 3); .NET's AddMonths clamps, so add from the 1st.
                var w = at.Wall.UtcDateTime;
                var first = new DateTime(w.Year, 1, 1).AddYears(checked((int)years)).AddMonths(checked((int)(w.Month - 1 + months)));
                var moved = first.AddDays(w.Day - 1 + days) + w.TimeOfDay;
                return InRange(ToNs(moved, at.Nanos % NsPerTick), "time.add_date");
            }
            catch (Exception e) when (e is ArgumentOutOfRangeException or OverflowException)
            {
                throw new BuiltinException("time.add_date: time outside of valid range");
            }
        });
    }

    /// <summary>An instant: its wall clock in the requested zone (tick precision) and the nanoseconds within its second.</summary>
    private readonly record struct Instant(DateTimeOffset Wall, int Nanos, bool IsUtc, TimeZoneInfo Zone);

    /// <summary>The operand is ns (UTC), [ns, zone] or [ns, zone, layout]; zone is an IANA name, "UTC", "" or "Local".</summary>
    private static Instant At(Value v, string fn)
    {
        if (v is NumberValue n) return FromNs(Ns(n, fn), TimeZoneInfo.Utc, fn);
        if (v is ArrayValue { Items: [NumberValue ns, StringValue zone, ..] arr } && arr.Length <= 3)
        {
            var nsv = Ns(ns, fn);
            if (zone.V is "" or "UTC") return FromNs(nsv, TimeZoneInfo.Utc, fn);
            try
            {
                return FromNs(nsv, zone.V == "Local" ? TimeZoneInfo.Local : TimeZoneInfo.FindSystemTimeZoneById(zone.V), fn);
            }
            catch (Exception e) when (e is TimeZoneNotFoundException or InvalidTimeZoneException)
            {
                throw new BuiltinException($"{fn}: unknown time zone {zone.V}");
            }
        }
        throw new BuiltinTypeException($"{fn}: operand 1 must be one of {{number, array[number, string]}} but got {Value.TypeName(v)}");
    }

    private static long Ns(NumberValue n, string fn)
    {
        if (n.TryGetBig(out var b))
        {
            if (b < MinNs || b > MaxNs) throw new BuiltinException($"{fn}: timestamp too big");
            return (long)b;
        }
        if (!(n.V >= long.MinValue && n.V < long.MaxValue)) throw new BuiltinException($"{fn}: timestamp too big");
        return (long)n.V; // a fraction of a nanosecond is dropped, as Go's int64 conversion
    }

    private static Instant FromNs(long ns, TimeZoneInfo zone, string fn)
    {
        var ticks = Math.DivRem(ns, NsPerTick, out var sub);
        if (sub < 0)
        {
            ticks--;
            sub += NsPerTick;
        }
        var utc = new DateTimeOffset(ticks + DateTime.UnixEpoch.Ticks, TimeSpan.Zero);
        var wall = zone == TimeZoneInfo.Utc ? utc : TimeZoneInfo.ConvertTime(utc, zone);
        var nanos = (int)((utc.Ticks % TimeSpan.TicksPerSecond * NsPerTick) + sub);
        return new Instant(wall, nanos, zone == TimeZoneInfo.Utc, zone);
    }

    private static BigInteger ToNs(DateTime utcWall, long subTickNs) =>
        (new BigInteger(utcWall.Ticks - DateTime.UnixEpoch.Ticks) * NsPerTick) + subTickNs;

    /// <summary>OPA's timestamps are Go int64 nanoseconds: a result outside that range is an error, not a number.</summary>
    private static NumberValue InRange(BigInteger ns, string fn) =>
        ns >= MinNs && ns <= MaxNs ? NumberValue.Of(ns) : throw new BuiltinException($"{fn}: time outside of valid range");

    /// <summary>[years, months, days, hours, minutes, seconds] between two instants, in the first one's zone (OPA's algorithm).</summary>
    private static ArrayValue Diff(Instant a, Instant b)
    {
        var t1 = a.Wall;
        var t2 = a.IsUtc ? b.Wall.ToUniversalTime() : TimeZoneInfo.ConvertTime(b.Wall, a.Zone);
        if (t1 > t2) (t1, t2) = (t2, t1);
        var year = t2.Year - t1.Year;
        var month = t2.Month - t1.Month;
        var day = t2.Day - t1.Day;
        var hour = t2.Hour - t1.Hour;
        var min = t2.Minute - t1.Minute;
        var sec = t2.Second - t1.Second;
        if (sec < 0)
        {
            sec += 60;
            min--;
        }
        if (min < 0)
        {
            min += 60;
            hour--;
        }
        if (hour < 0)
        {
            hour += 24;
            day--;
        }
        if (day < 0)
        {
            day += DateTime.DaysInMonth(t1.Year, t1.Month);
            month--;
        }
        if (month < 0)
        {
            month += 12;
            year--;
        }
        return new ArrayValue([Value.Number(year), Value.Number(month), Value.Number(day), Value.Number(hour), Value.Number(min), Value.Number(sec)]);
    }
}
