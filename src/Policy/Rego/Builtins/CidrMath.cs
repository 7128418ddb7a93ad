using System.Net;
using System.Net.Sockets;

namespace Sandbox.Policy.Rego;

/// <summary>
/// Addresses as 128-bit integers, for the builtins that enumerate or merge address ranges (net.cidr_expand,
/// net.cidr_merge). IPv4 uses the low 32 bits; the family travels beside the number.
/// </summary>
internal static class CidrMath
{
    public static UInt128 ToNumber(IPAddress ip)
    {
        UInt128 n = 0;
        foreach (var b in ip.GetAddressBytes()) n = (n << 8) | b;
        return n;
    }

    public static IPAddress ToAddress(UInt128 n, AddressFamily family)
    {
        var bytes = new byte[family == AddressFamily.InterNetwork ? 4 : 16];
        for (var i = bytes.Length - 1; i >= 0; i--)
        {
            bytes[i] = (byte)(n & 0xFF);
            n >>= 8;
        }
        return new IPAddress(bytes);
    }

    public static int Bits(AddressFamily family) => family == AddressFamily.InterNetwork ? 32 : 128;

    /// <summary>First and last address of a prefix.</summary>
    public static (UInt128 First, UInt128 Last) Range(IPNetwork n)
    {
        var bits = Bits(n.BaseAddress.AddressFamily);
        var first = ToNumber(n.BaseAddress);
        var hostBits = bits - n.PrefixLength;
        var size = hostBits == 128 ? UInt128.MaxValue : (UInt128.One << hostBits) - 1;
        return (first, first + size);
    }

    /// <summary>The fewest prefixes covering [first, last] exactly, in address order.</summary>
    public static IEnumerable<IPNetwork> Cover(UInt128 first, UInt128 last, AddressFamily family)
    {
        var bits = Bits(family);
        while (true)
        {
            // The largest aligned block starting at `first` that does not pass `last`.
            var hostBits = first == 0 ? bits : Math.Min(bits, (int)UInt128.TrailingZeroCount(first));
            while (hostBits > 0 && (hostBits == 128 ? UInt128.MaxValue : first + ((UInt128.One << hostBits) - 1)) > last) hostBits--;
            yield return new IPNetwork(ToAddress(first, family), bits - hostBits);
            var end = hostBits == 128 ? UInt128.MaxValue : first + ((UInt128.One << hostBits) - 1);
            if (end >= last) yield break;
            first = end + 1;
        }
    }
}
