using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace Sandbox.Isolation.Network;

/// <summary>One entry of an egress allowlist: a host name (resolved by the host when the sandbox is created and pinned
/// to the addresses it had then) or an IPv4 network, optionally limited to one port (TCP and UDP). The address
/// 127.0.0.1 names the host's own loopback, which the sandbox reaches at <see cref="SandboxAddresses.Gateway"/>.</summary>
public sealed record EgressRule
{
    /// <summary>A DNS name (lower case), or null for an address rule.</summary>
    public string? HostName { get; init; }

    /// <summary>The IPv4 network of an address rule (a single address is a /32), or null for a name rule.</summary>
    public IPNetwork? Network { get; init; }

    /// <summary>1–65535, or null for every port.</summary>
    public int? Port { get; init; }

    /// <summary>The rule names the host's loopback (127.0.0.1): reached through the gateway address, never through the
    /// sandbox's own 127.0.0.1.</summary>
    public bool IsHostLoopback => Network is { } n && n.BaseAddress.Equals(IPAddress.Loopback) && n.PrefixLength == 32;

    public override string ToString()
    {
        var target = HostName ?? (Network is { PrefixLength: 32 } n ? n.BaseAddress.ToString() : Network.ToString());
        return Port is { } p ? $"{target}:{p}" : target!;
    }

    private const string Accepted = "accepted: HOST, HOST:PORT, IPV4, IPV4:PORT, IPV4/PREFIX or IPV4/PREFIX:PORT";

    /// <summary>Parses "HOST[:PORT]" or "CIDR[:PORT]"; bad input is an InvalidArgument naming the entry and the forms
    /// accepted.</summary>
    public static EgressRule Parse(string entry)
    {
        ArgumentNullException.ThrowIfNull(entry);
        var text = entry.Trim();
        if (text.Length == 0)
            throw Invalid(entry, "it is empty");
        if (text.StartsWith('[') || text.Count(c => c == ':') > 1)
            throw Invalid(entry, "IPv6 destinations are not offered (the sandbox network is IPv4 only)");
        int? port = null;
        var colon = text.LastIndexOf(':');
        if (colon >= 0)
        {
            port = ParsePort(entry, text[(colon + 1)..]);
            text = text[..colon];
        }
        if (text.Contains('/'))
        {
            // .NET accepts host bits and clears them; "10.1.2.3/16" is more likely a typo than a wish for 10.1.0.0/16.
            if (!IPNetwork.TryParse(text, out var network) || network.BaseAddress.AddressFamily != AddressFamily.InterNetwork
                || network.BaseAddress.ToString() != text[..text.IndexOf('/')])
                throw Invalid(entry, $"'{text}' is not an IPv4 network with its host bits zero (e.g. 10.1.0.0/16)");
            return Checked(entry, new EgressRule { Network = network, Port = port });
        }
        if (LooksLikeAddress(text))
        {
            if (!IPAddress.TryParse(text, out var address) || address.AddressFamily != AddressFamily.InterNetwork)
                throw Invalid(entry, $"'{text}' is not an IPv4 address");
            return Checked(entry, new EgressRule { Network = new IPNetwork(address, 32), Port = port });
        }
        var name = text.TrimEnd('.').ToLowerInvariant();
        if (!IsHostName(name))
            throw Invalid(entry, $"'{text}' is not a host name (letters, digits and '-' in dot-separated labels of at most 63, 253 in all)");
        return new EgressRule { HostName = name, Port = port };
    }

    private static EgressRule Checked(string entry, EgressRule rule)
    {
        var n = rule.Network!.Value;
        var inLoopback = IPNetwork.Parse("127.0.0.0/8").Contains(n.BaseAddress);
        if (inLoopback && !rule.IsHostLoopback)
            throw Invalid(entry, "of the host's loopback only 127.0.0.1 can be allowed (the sandbox reaches it at the gateway address)");
        return rule;
    }

    private static bool LooksLikeAddress(string text) => text.All(c => char.IsAsciiDigit(c) || c == '.');

    private static int ParsePort(string entry, string text)
    {
        if (!int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var port) || port is < 1 or > 65535)
            throw Invalid(entry, $"port '{text}' is not a number from 1 to 65535");
        return port;
    }

    internal static bool IsHostName(string name)
    {
        if (name.Length is 0 or > 253)
            return false;
        foreach (var label in name.Split('.'))
        {
            if (label.Length is 0 or > 63 || label.StartsWith('-') || label.EndsWith('-'))
                return false;
            if (!label.All(c => char.IsAsciiLetterOrDigit(c) || c == '-'))
                return false;
        }
        return true;
    }

    private static SandboxException Invalid(string entry, string why) =>
        new(SandboxErrorCode.InvalidArgument, $"egress entry '{entry}': {why}; {Accepted}");
}
