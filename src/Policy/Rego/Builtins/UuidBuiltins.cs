using System.Buffers.Binary;
using System.Globalization;

namespace Sandbox.Policy.Rego;

/// <summary>
/// uuid.parse: the fields OPA decodes from a UUID (Go's google/uuid forms: 36 characters with dashes, braced,
/// <c>urn:uuid:</c>, or 32 hex digits). Every version gives version and variant; versions 1 and 2 add their time
/// (Unix nanoseconds), clock sequence, node id and MAC flags; version 2 its local id and domain. Undefined when the
/// string is not a UUID.
/// </summary>
internal static class UuidBuiltins
{
    private const long Gregorian100Ns = 122_192_928_000_000_000; // 1582-10-15 to 1970-01-01 in 100 ns ticks

    public static void Register(BuiltinTable t) => t.Register("uuid.parse", 1, (a, _) => Parse(BuiltinTable.Str(a, 0, "uuid.parse")));

    private static Value? Parse(string s)
    {
        if (Bytes(s) is not { } b) return null;
        var version = b[6] >> 4;
        var m = new Dictionary<Value, Value>
        {
            [Value.String("version")] = Value.Number(version),
            [Value.String("variant")] = Value.String((b[8] & 0xc0) == 0x80 ? "RFC4122" : (b[8] & 0xe0) == 0xc0 ? "Microsoft" : (b[8] & 0xe0) == 0xe0 ? "Future" : "Reserved"),
        };
        if (version is 1 or 2)
        {
            // As google/uuid reads it: for version 2 too the low 32 bits (there the local id) count as time.
            var time = (long)(BinaryPrimitives.ReadUInt16BigEndian(b.AsSpan(6)) & 0xfff) << 48 | (long)BinaryPrimitives.ReadUInt16BigEndian(b.AsSpan(4)) << 32
                | BinaryPrimitives.ReadUInt32BigEndian(b);
            var ticks = time - Gregorian100Ns;
            m[Value.String("time")] = NumberValue.Of(ticks / 10_000_000 * 1_000_000_000 + ticks % 10_000_000 * 100);
            m[Value.String("clocksequence")] = Value.Number(BinaryPrimitives.ReadUInt16BigEndian(b.AsSpan(8)) & 0x3fff);
            m[Value.String("nodeid")] = Value.String(string.Join('-', b[10..].Select(x => x.ToString("x2", CultureInfo.InvariantCulture))));
            m[Value.String("macvariables")] = Value.String((b[10] & 3) == 3 ? "local:multicast" : (b[10] & 1) == 1 ? "global:multicast" : (b[10] & 2) == 2 ? "local:unicast" : "global:unicast");
            if (version == 2)
            {
                m[Value.String("id")] = Value.Number(BinaryPrimitives.ReadUInt32BigEndian(b));
                m[Value.String("domain")] = Value.String(b[9] switch { 0 => "Person", 1 => "Group", 2 => "Org", var d => $"Domain{d}" });
            }
        }
        return new ObjectValue(m);
    }

    private static byte[]? Bytes(string s)
    {
        if (s.Length == 45 && s.StartsWith("urn:uuid:", StringComparison.OrdinalIgnoreCase)) s = s[9..];
        else if (s.Length == 38 && s[0] == '{' && s[^1] == '}') s = s[1..^1];
        if (s.Length == 36)
        {
            if (s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-') return null;
            s = s.Replace("-", "", StringComparison.Ordinal);
            if (s.Length != 32) return null;
        }
        if (s.Length != 32 || !s.All(char.IsAsciiHexDigit)) return null;
        return Convert.FromHexString(s);
    }
}
