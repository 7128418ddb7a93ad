using System.Globalization;

namespace Sandbox.Cli;

/// <summary>Parsers for the human units on the command line: sizes (256m, 1g, 512k, bytes) and durations
/// (10s, 500ms, 2m, 1h; a bare number is seconds).</summary>
public static class Units
{
    public static long ParseBytes(string text)
    {
        var s = text.Trim().ToLowerInvariant();
        long multiplier = 1;
        if (s.EndsWith('b')) s = s[..^1];
        if (s.EndsWith('k')) { multiplier = 1L << 10; s = s[..^1]; }
        else if (s.EndsWith('m')) { multiplier = 1L << 20; s = s[..^1]; }
        else if (s.EndsWith('g')) { multiplier = 1L << 30; s = s[..^1]; }
        if (!double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) || value < 0 || double.IsInfinity(value))
            throw new FormatException($"'{text}' is not a size: use a number with k, m or g (e.g. 256m)");
        var bytes = value * multiplier;
        if (bytes > long.MaxValue / 2)
            throw new FormatException($"'{text}' is too large");
        return (long)bytes;
    }

    public static TimeSpan ParseDuration(string text)
    {
        var s = text.Trim().ToLowerInvariant();
        double scale = 1;
        if (s.EndsWith("ms")) { scale = 0.001; s = s[..^2]; }
        else if (s.EndsWith('s')) { s = s[..^1]; }
        else if (s.EndsWith('m')) { scale = 60; s = s[..^1]; }
        else if (s.EndsWith('h')) { scale = 3600; s = s[..^1]; }
        if (!double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) || value <= 0 || double.IsInfinity(value))
            throw new FormatException($"'{text}' is not a duration: use e.g. 500ms, 10s, 2m, 1h");
        return TimeSpan.FromSeconds(value * scale);
    }
}
