using System.Text;
using CsCheck;

namespace Sandbox.Fuzz.Tests;

/// <summary>Generators of almost-valid inputs: a valid sample from a corpus with a few mutations (bit flips, byte
/// changes to boundary values, deletions, duplications, insertions of tokens that matter to the format, splices of
/// two samples, truncation), plus wholly random bytes. Mutating valid inputs reaches far deeper into a parser than
/// random bytes, which most reject at the first byte.</summary>
internal static class Mutations
{
    private static readonly byte[] s_interesting = [0x00, 0x01, 0x7f, 0x80, 0xff, 0xfe, 0x0a, 0x0d, 0x20, 0x22, 0x5c];

    public static Gen<byte[]> Of(IReadOnlyList<byte[]> corpus, IReadOnlyList<string>? tokens = null, int maxLength = 1 << 16) =>
        Gen.Frequency(
            (8, Gen.Select(Gen.Int[0, corpus.Count - 1], Gen.Int[0, corpus.Count - 1], Gen.Int[1, 12], Gen.ULong,
                (a, b, count, seed) => Mutate(corpus[a], corpus[b], count, new Random((int)seed ^ (int)(seed >> 32)), tokens, maxLength))),
            (1, Gen.Byte.Array[0, 512]),
            (1, Gen.Int[0, corpus.Count - 1].Select(i => corpus[i])));

    public static Gen<string> Text(IReadOnlyList<string> corpus, IReadOnlyList<string>? tokens = null, int maxLength = 1 << 16) =>
        Of(corpus.Select(Encoding.UTF8.GetBytes).ToList(), tokens, maxLength).Select(b => Encoding.UTF8.GetString(b));

    private static byte[] Mutate(byte[] sample, byte[] other, int count, Random rnd, IReadOnlyList<string>? tokens, int maxLength)
    {
        var data = new List<byte>(sample);
        for (var i = 0; i < count; i++)
        {
            var at = data.Count == 0 ? 0 : rnd.Next(data.Count);
            switch (rnd.Next(tokens is null ? 8 : 10))
            {
                case 0 when data.Count > 0: data[at] ^= (byte)(1 << rnd.Next(8)); break;
                case 1 when data.Count > 0: data[at] = s_interesting[rnd.Next(s_interesting.Length)]; break;
                case 2 when data.Count > 0: data.RemoveRange(at, Math.Min(data.Count - at, 1 + rnd.Next(16))); break;
                case 3 when data.Count > 0:
                    var len = Math.Min(data.Count - at, 1 + rnd.Next(64));
                    data.InsertRange(rnd.Next(data.Count), data.GetRange(at, len));
                    break;
                case 4: data.Insert(at, (byte)rnd.Next(256)); break;
                case 5 when other.Length > 0:
                    var from = rnd.Next(other.Length);
                    data.RemoveRange(at, data.Count - at);
                    data.AddRange(other.AsSpan(from).ToArray());
                    break;
                case 6 when data.Count > 0: data.RemoveRange(at, data.Count - at); break;
                case 7 when data.Count >= 4:
                    // A length or count field set to a boundary value.
                    var value = rnd.Next(4) switch { 0 => 0u, 1 => uint.MaxValue, 2 => 0x7fffffffu, _ => (uint)rnd.Next() };
                    var pos = rnd.Next(data.Count - 3);
                    for (var k = 0; k < 4; k++) data[pos + k] = (byte)(value >> (8 * k));
                    break;
                case 8 or 9 when tokens is not null:
                    var token = Encoding.UTF8.GetBytes(tokens[rnd.Next(tokens.Count)]);
                    var repeat = rnd.Next(10) == 0 ? 1 + rnd.Next(2000) : 1;
                    for (var r = 0; r < repeat && data.Count < maxLength; r++)
                        data.InsertRange(Math.Min(at, data.Count), token);
                    break;
            }
            if (data.Count > maxLength)
                data.RemoveRange(maxLength, data.Count - maxLength);
        }
        return [.. data];
    }
}
