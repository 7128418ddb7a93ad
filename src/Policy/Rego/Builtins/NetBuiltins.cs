using System.Net;
using System.Net.Sockets;

namespace Sandbox.Policy.Rego;

/// <summary>
/// net.cidr_contains (the second operand is an address or a CIDR), net.cidr_intersects, net.cidr_is_valid,
/// net.cidr_contains_matches, net.cidr_expand (at most 65,536 addresses), net.cidr_merge (IPv4 and IPv6).
/// </summary>
internal static class NetBuiltins
{
    /// <summary>Largest prefix net.cidr_expand enumerates (a /16 of IPv4): evaluation memory stays bounded.</summary>
    private const int MaxExpand = 1 << 16;

    public static void Register(BuiltinTable t)
    {
        t.Register("net.cidr_expand", 1, (a, _) =>
        {
            var n = ParseNetwork(BuiltinTable.Str(a, 0, "net.cidr_expand"), "net.cidr_expand");
            var family = n.BaseAddress.AddressFamily;
            var hostBits = CidrMath.Bits(family) - n.PrefixLength;
            if (hostBits > 16) throw new BuiltinException($"net.cidr_expand: {n} has 2^{hostBits} addresses, more than the limit of {MaxExpand}");
            var (first, last) = CidrMath.Range(n);
            var items = new HashSet<Value>();
            for (var x = first; ; x++)
            {
                items.Add(Value.String(CidrMath.ToAddress(x, family).ToString()));
                if (x == last) break;
            }
            return new SetValue(items, true);
        });
        t.Register("net.cidr_merge", 1, (a, _) => Merge(BuiltinTable.Elems(a, 0, "net.cidr_merge")));
        t.Register("net.cidr_contains_matches", 2, (a, _) =>
        {
            const string fn = "net.cidr_contains_matches";
            var cidrs = Keyed(a[0], 1, fn);
            var others = Keyed(a[1], 2, fn);
            var result = new HashSet<Value>();
            foreach (var (ck, cv) in cidrs)
            {
                var net = ParseNetwork(cv, fn);
                foreach (var (ok, ov) in others)
                    if (Contains(net, ov, fn)) result.Add(new ArrayValue([ck, ok]));
            }
            return new SetValue(result, true);
        });
        t.Register("net.cidr_contains", 2, (a, _) =>
        {
            var cidr = ParseNetwork(BuiltinTable.Str(a, 0, "net.cidr_contains"), "net.cidr_contains");
            return Value.Bool(Contains(cidr, BuiltinTable.Str(a, 1, "net.cidr_contains"), "net.cidr_contains"));
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

    /// <summary>Whether the prefix holds an address or a whole other prefix.</summary>
    private static bool Contains(IPNetwork cidr, string other, string fn)
    {
        if (!other.Contains('/') && IPAddress.TryParse(other, out var ip)) return cidr.Contains(ip);
        var inner = ParseNetwork(other, fn);
        return inner.PrefixLength >= cidr.PrefixLength && cidr.Contains(inner.BaseAddress);
    }

    /// <summary>
    /// net.cidr_contains_matches' operands: a string (key: the string), an array or set (key: the index or the
    /// element), or an object (key: the key); an element is a CIDR/address or an array whose first item is one.
    /// </summary>
    private static List<(Value Key, string Text)> Keyed(Value v, int operand, string fn)
    {
        string Text(Value e) => e switch
        {
            StringValue s => s.V,
            ArrayValue { Items.Length: > 0 } arr when arr.Items[0] is StringValue s0 => s0.V,
            _ => throw new BuiltinException($"{fn}: operand {operand}: element must be string or non-empty array"),
        };
        return v switch
        {
            StringValue s => [(s, s.V)],
            ArrayValue arr => arr.Items.Select((e, i) => ((Value)Value.Number(i), Text(e))).ToList(),
            SetValue set => set.Sorted.Select(e => (e, Text(e))).ToList(),
            ObjectValue o => o.SortedKeys.Select(k => (k, Text(o.Get(k)!))).ToList(),
            _ => throw new BuiltinTypeException($"{fn}: operand {operand} must be one of {{string, array, set, object}} but got {Value.TypeName(v)}"),
        };
    }

    /// <summary>
    /// net.cidr_merge: the smallest list of prefixes covering the same addresses (IPv4 first, then IPv6, each in
    /// address order). An IPv4 address without a prefix takes its classful default (/8, /16, /24; /32 above 223),
    /// as Go's DefaultMask; an IPv6 address needs one.
    /// </summary>
    private static ArrayValue Merge(IReadOnlyList<Value> items)
    {
        const string fn = "net.cidr_merge";
        var ranges = new List<(AddressFamily Family, UInt128 First, UInt128 Last)>();
        foreach (var item in items)
        {
            var s = item as StringValue ?? throw new BuiltinTypeException($"{fn}: operand 1 must be array or set of strings, got {Value.TypeName(item)} in it");
            IPNetwork n;
            if (!s.V.Contains('/') && IPAddress.TryParse(s.V, out var ip))
            {
                if (ip.AddressFamily != AddressFamily.InterNetwork) throw new BuiltinException($"{fn}: IPv6 invalid: needs prefix length");
                var first = ip.GetAddressBytes()[0];
                n = ParseNetwork($"{ip}/{(first < 128 ? 8 : first < 192 ? 16 : first < 224 ? 24 : 32)}", fn);
            }
            else
            {
                n = ParseNetwork(s.V, fn);
            }
            var (lo, hi) = CidrMath.Range(n);
            ranges.Add((n.BaseAddress.AddressFamily, lo, hi));
        }
        var result = new List<Value>();
        foreach (var family in new[] { AddressFamily.InterNetwork, AddressFamily.InterNetworkV6 })
        {
            var sorted = ranges.Where(r => r.Family == family).OrderBy(r => r.First).ToList();
            for (var i = 0; i < sorted.Count;)
            {
                var (_, lo, hi) = sorted[i++];
                // Join every range that overlaps or touches the current one.
                while (i < sorted.Count && (hi == UInt128.MaxValue || sorted[i].First <= hi + 1))
                {
                    if (sorted[i].Last > hi) hi = sorted[i].Last;
                    i++;
                }
                foreach (var p in CidrMath.Cover(lo, hi, family)) result.Add(Value.String(p.ToString()));
            }
        }
        return new ArrayValue(result.ToArray());
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
