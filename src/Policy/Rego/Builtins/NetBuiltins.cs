using System.Net;

namespace Sandbox.Policy.Rego;

/// <summary>net.cidr_contains (the second operand is an address or a CIDR), net.cidr_intersects, net.cidr_is_valid (IPv4 and IPv6).</summary>
internal static class NetBuiltins
{
    public static void Register(BuiltinTable t)
    {
        t.Register("net.cidr_contains", 2, (a, _) =>
        {
            var cidr = ParseNetwork(BuiltinTable.Str(a, 0, "net.cidr_contains"), "net.cidr_contains");
            var other = BuiltinTable.Str(a, 1, "net.cidr_contains");
            if (IPAddress.TryParse(other, out var ip) && !other.Contains('/')) return Value.Bool(cidr.Contains(ip));
            var inner = ParseNetwork(other, "net.cidr_contains");
            return Value.Bool(inner.PrefixLength >= cidr.PrefixLength && cidr.Contains(inner.BaseAddress));
        });
        t.Register("net.cidr_intersects", 2, (a, _) =>
        {
            var x = ParseNetwork(BuiltinTable.Str(a, 0, "net.cidr_intersects"), "net.cidr_intersects");
            var y = ParseNetwork(BuiltinTable.Str(a, 1, "net.cidr_intersects"), "net.cidr_intersects");
            // Two prefixes overlap exactly when the shorter one contains the other's base address.
            return Value.Bool(x.BaseAddress.AddressFamily == y.BaseAddress.AddressFamily &&
                (x.PrefixLength <= y.PrefixLength ? x.Contains(y.BaseAddress) : y.Contains(x.BaseAddress)));
        });
        t.Register("net.cidr_is_valid", 1, (a, _) =>
        {
            if (a[0] is not StringValue s) return Value.False;
            try
            {
                ParseNetwork(s.V, "net.cidr_is_valid");
                return Value.True;
            }
            catch (BuiltinException)
            {
                return Value.False;
            }
        });
    }

    private static IPNetwork ParseNetwork(string s, string fn)
    {
        var slash = s.IndexOf('/');
        if (slash < 0 || !IPAddress.TryParse(s[..slash], out var addr) || !int.TryParse(s[(slash + 1)..], out var prefix))
            throw new BuiltinException($"{fn}: invalid CIDR address: {s}");
        var max = addr.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork ? 32 : 128;
        if (prefix < 0 || prefix > max) throw new BuiltinException($"{fn}: invalid CIDR prefix: {s}");
        // Mask host bits: OPA accepts "10.1.2.3/8" as the network 10.0.0.0/8.
        var bytes = addr.GetAddressBytes();
        for (var i = 0; i < bytes.Length; i++)
        {
            var bits = Math.Clamp(prefix - (i * 8), 0, 8);
            bytes[i] &= (byte)(0xFF << (8 - bits));
        }
        return new IPNetwork(new IPAddress(bytes), prefix);
    }
}
