using System.Security.Cryptography;
using System.Text;

namespace Sandbox.PolicyServer;

/// <summary>
/// The configured bearer token, compared in constant time: both sides are hashed first (SHA-256), so neither the
/// content nor the length of the token leaks through the time a wrong guess takes.
/// </summary>
internal sealed class BearerToken(string token)
{
    private readonly byte[] _expected = SHA256.HashData(Encoding.UTF8.GetBytes("Bearer " + token));

    public bool Matches(string? authorizationHeader)
    {
        Span<byte> actual = stackalloc byte[SHA256.HashSizeInBytes];
        SHA256.HashData(Encoding.UTF8.GetBytes(authorizationHeader ?? ""), actual);
        return CryptographicOperations.FixedTimeEquals(actual, _expected);
    }
}
