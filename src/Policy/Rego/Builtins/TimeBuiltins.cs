using System.Globalization;

namespace Sandbox.Policy.Rego;

/// <summary>
/// Time builtins over nanoseconds since the Unix epoch (as OPA; held in a double here, so exact to ~256 ns around
/// today's dates). time.now_ns is off unless the compile options enable it (decisions stay deterministic by default).
/// </summary>
internal static class TimeBuiltins
{
    private const long NsPerTick = 100;

    public static void Register(BuiltinTable t)
    {
        t.Register("time.now_ns", 0, (_, ctx) => Value.Number(ctx.NowNs), requiresCapability: true);
        t.Register("time.parse_rfc3339_ns", 1, (a, _) =>
        {
            var s = BuiltinTable.Str(a, 0, "time.parse_rfc3339_ns");
            if (!DateTimeOffset.TryParseExact(s, ["yyyy-MM-dd'T'HH:mm:ssK", "yyyy-MM-dd'T'HH:mm:ss.FFFFFFFK"], CultureInfo.InvariantCulture, DateTimeStyles.None, out var dto))
                throw new BuiltinException($"time.parse_rfc3339_ns: parsing time \"{s}\" as RFC 3339 failed");
            return Value.Number(InRange((dto.UtcTicks - DateTime.UnixEpoch.Ticks) * (double)NsPerTick, "time.parse_rfc3339_ns"));
        });
        t.Register("time.parse_duration_ns", 1, (a, _) => Value.Number(Duration.ParseNs(BuiltinTable.Str(a, 0, "time.parse_duration_ns"))));
        t.Register("time.date", 1, (a, _) =>
        {
            var d = At(a[0], "time.date");
            return new ArrayValue([Value.Number(d.Year), Value.Number(d.Month), Value.Number(d.Day)]);
        });
        t.Register("time.clock", 1, (a, _) =>
        {
            var d = At(a[0], "time.clock");
            return new ArrayValue([Value.Number(d.Hour), Value.Number(d.Minute), Value.Number(d.Second)]);
        });
        t.Register("time.weekday", 1, (a, _) => Value.String(At(a[0], "time.weekday").DayOfWeek.ToString()));
        t.Register("time.add_date", 4, (a, _) =>
        {
            var ns = BuiltinTable.Num(a, 0, "time.add_date");
            var d = FromNs(ns, "time.add_date");
            try
            {
                var moved = d.AddYears((int)BuiltinTable.Int(a, 1, "time.add_date")).AddMonths((int)BuiltinTable.Int(a, 2, "time.add_date")).AddDays(BuiltinTable.Int(a, 3, "time.add_date"));
                return Value.Number(InRange((moved.UtcTicks - DateTime.UnixEpoch.Ticks) * (double)NsPerTick + (ns % NsPerTick), "time.add_date"));
            }
            catch (ArgumentOutOfRangeException)
            {
                throw new BuiltinException("time.add_date: date out of range");
            }
        });
    }

    /// <summary>The operand is ns (UTC) or [ns, zone] where zone is an IANA name, "UTC", "" or "Local".</summary>
    private static DateTimeOffset At(Value v, string fn)
    {
        if (v is NumberValue n) return FromNs(n.V, fn);
        if (v is ArrayValue { Items: [NumberValue ns, StringValue zone] })
        {
            var utc = FromNs(ns.V, fn);
            if (zone.V is "" or "UTC") return utc;
            try
            {
                var tz = zone.V == "Local" ? TimeZoneInfo.Local : TimeZoneInfo.FindSystemTimeZoneById(zone.V);
                return TimeZoneInfo.ConvertTime(utc, tz);
            }
            catch (Exception e) when (e is TimeZoneNotFoundException or InvalidTimeZoneException)
            {
                throw new BuiltinException($"{fn}: unknown time zone {zone.V}");
            }
        }
        throw new BuiltinTypeException($"{fn}: operand 1 must be one of {{number, array[number, string]}} but got {Value.TypeName(v)}");
    }

    /// <summary>OPA's timestamps are Go int64 nanoseconds: a result outside that range is an error, not a number.</summary>
    private static double InRange(double ns, string fn) =>
        ns >= -9.223372036854775808e18 && ns < 9.223372036854775808e18 ? ns : throw new BuiltinException($"{fn}: time outside of valid range");

    private static DateTimeOffset FromNs(double ns, string fn)
    {
        if (!(ns >= long.MinValue && ns <= long.MaxValue)) throw new BuiltinException($"{fn}: timestamp too big");
        var ticks = Math.Floor(ns / NsPerTick) + DateTime.UnixEpoch.Ticks;
        if (double.IsNaN(ticks) || ticks < DateTime.MinValue.Ticks || ticks > DateTime.MaxValue.Ticks) throw new BuiltinException($"{fn}: time out of range");
        return new DateTimeOffset((long)ticks, TimeSpan.Zero);
    }
}
