using System.Globalization;
using Sandbox.Cli.Parsing;

namespace Sandbox.Cli;

/// <summary>Parsers for the human units on the command line. Sizes are exact or refused, never rounded into a default:
/// a bare number is bytes (as docker), k/m/g are KiB/MiB/GiB; a limit kept in MiB must be a whole number of MiB.
/// Durations: 500ms, 10s, 2m, 1h; a bare number is seconds.</summary>
public static class Units
{
    public static long ParseBytes(string text, string option)
    {
        var s = text.Trim().ToLowerInvariant();
        long multiplier = 1;
        if (s.EndsWith("ib", StringComparison.Ordinal)) s = s[..^2];
        else if (s.EndsWith('b')) s = s[..^1];
        if (s.EndsWith('k')) { multiplier = 1L << 10; s = s[..^1]; }
        else if (s.EndsWith('m')) { multiplier = 1L << 20; s = s[..^1]; }
        else if (s.EndsWith('g')) { multiplier = 1L << 30; s = s[..^1]; }
        if (s.Length == 0 || !decimal.TryParse(s, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var value))
            throw new UsageException($"{option} '{text}' is not a size: use a number with k, m or g (e.g. 256m; a bare number is bytes)");
        var bytes = value * multiplier;
        if (bytes > long.MaxValue / 2)
            throw new UsageException($"{option} '{text}' is too large");
        if (bytes != decimal.Truncate(bytes))
            throw new UsageException($"{option} '{text}' is not a whole number of bytes");
        return (long)bytes;
    }

    /// <summary>A size that the API takes in MiB: exact, at least <paramref name="minimumMiB"/>.</summary>
    public static long ParseMiB(string text, string option, long minimumMiB = 1)
    {
        var bytes = ParseBytes(text, option);
        if (bytes % (1L << 20) != 0)
            throw new UsageException($"{option} '{text}' is {bytes} bytes, not a whole number of MiB (write the unit: e.g. {Math.Max(minimumMiB, bytes >> 20)}m)");
        var mib = bytes >> 20;
        if (mib < minimumMiB)
            throw new UsageException($"{option} '{text}' is below the minimum of {minimumMiB}m");
        return mib;
    }

    public static TimeSpan ParseDuration(string text, string option)
    {
        var s = text.Trim().ToLowerInvariant();
        double scale = 1;
        if (s.EndsWith("ms", StringComparison.Ordinal)) { scale = 0.001; s = s[..^2]; }
        else if (s.EndsWith('s')) { s = s[..^1]; }
        else if (s.EndsWith('m')) { scale = 60; s = s[..^1]; }
        else if (s.EndsWith('h')) { scale = 3600; s = s[..^1]; }
        if (!double.TryParse(s, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var value) || value <= 0 || double.IsInfinity(value))
            throw new UsageException($"{option} '{text}' is not a duration: use e.g. 500ms, 10s, 2m, 1h (a bare number is seconds)");
        return TimeSpan.FromSeconds(value * scale);
    }

    public static double ParseCpus(string text, string option)
    {
        if (!double.TryParse(text, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var cpus) || cpus <= 0 || double.IsInfinity(cpus))
            throw new UsageException($"{option} '{text}' is not a number of CPUs: use a positive number (e.g. 0.5, 2)");
        return cpus;
    }

    public static int ParseCount(string text, string option, int minimum)
    {
        if (!int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var n) || n < minimum)
            throw new UsageException($"{option} '{text}' is not a whole number of at least {minimum}");
        return n;
    }
}
