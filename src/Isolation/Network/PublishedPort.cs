using System.Globalization;

namespace Sandbox.Isolation.Network;

/// <summary>A TCP port of the sandbox published on the host's loopback: connections to 127.0.0.1:<see cref="HostPort"/>
/// on the host reach <see cref="Port"/> inside the sandbox. Never on another host address.</summary>
public sealed record PublishedPort(int HostPort, int Port)
{
    public override string ToString() => $"{HostPort}:{Port}";

    /// <summary>Parses "HOSTPORT:PORT" (or "PORT", the same number on both sides).</summary>
    public static PublishedPort Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var parts = text.Trim().Split(':');
        if (parts.Length is < 1 or > 2)
            throw Invalid(text, "expected HOSTPORT:PORT");
        var host = ParsePort(text, parts[0]);
        var inside = parts.Length == 2 ? ParsePort(text, parts[1]) : host;
        return new PublishedPort(host, inside);
    }

    private static int ParsePort(string text, string part)
    {
        if (!int.TryParse(part, NumberStyles.None, CultureInfo.InvariantCulture, out var port) || port is < 1 or > 65535)
            throw Invalid(text, $"'{part}' is not a port from 1 to 65535");
        return port;
    }

    private static SandboxException Invalid(string text, string why) =>
        new(SandboxErrorCode.InvalidArgument, $"published port '{text}': {why} (accepted: HOSTPORT:PORT or PORT, each 1-65535)");
}
