using System.Security.Cryptography;
using System.Text;

namespace Sandbox.Policy.Rego;

/// <summary>crypto.md5/sha1/sha256 and crypto.hmac.*: digests of a string's UTF-8 bytes as lower-case hex, as OPA's.</summary>
/// <remarks>MD5 and SHA-1 are here because policies compute them to compare with digests others publish (OPA offers
/// them for that); nothing in the sandbox relies on them for security.</remarks>
#pragma warning disable CA5350, CA5351
internal static class CryptoBuiltins
{
    public static void Register(BuiltinTable t)
    {
        t.Register("crypto.md5", 1, (a, _) => Hex(MD5.HashData(Bytes(a, 0, "crypto.md5"))));
        t.Register("crypto.sha1", 1, (a, _) => Hex(SHA1.HashData(Bytes(a, 0, "crypto.sha1"))));
        t.Register("crypto.sha256", 1, (a, _) => Hex(SHA256.HashData(Bytes(a, 0, "crypto.sha256"))));
        t.Register("crypto.hmac.md5", 2, (a, _) => Hex(HMACMD5.HashData(Bytes(a, 1, "crypto.hmac.md5"), Bytes(a, 0, "crypto.hmac.md5"))));
        t.Register("crypto.hmac.sha1", 2, (a, _) => Hex(HMACSHA1.HashData(Bytes(a, 1, "crypto.hmac.sha1"), Bytes(a, 0, "crypto.hmac.sha1"))));
        t.Register("crypto.hmac.sha256", 2, (a, _) => Hex(HMACSHA256.HashData(Bytes(a, 1, "crypto.hmac.sha256"), Bytes(a, 0, "crypto.hmac.sha256"))));
        t.Register("crypto.hmac.sha512", 2, (a, _) => Hex(HMACSHA512.HashData(Bytes(a, 1, "crypto.hmac.sha512"), Bytes(a, 0, "crypto.hmac.sha512"))));
        // Constant time in the length of the inputs, so comparing a computed MAC with a presented one leaks nothing.
        t.Register("crypto.hmac.equal", 2, (a, _) => Value.Bool(CryptographicOperations.FixedTimeEquals(
            Bytes(a, 0, "crypto.hmac.equal"), Bytes(a, 1, "crypto.hmac.equal"))));
    }

    private static byte[] Bytes(Value[] a, int i, string fn) => Encoding.UTF8.GetBytes(BuiltinTable.Str(a, i, fn));

    private static StringValue Hex(byte[] digest) => Value.String(Convert.ToHexStringLower(digest));
}
#pragma warning restore CA5350, CA5351
