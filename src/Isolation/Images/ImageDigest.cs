using System.Security.Cryptography;

namespace Sandbox.Isolation.Images;

/// <summary>A content digest as OCI writes it: <c>sha256:</c> and 64 lowercase hex digits. The only algorithm accepted
/// (sha512 and others are refused by name); everything the store keeps is addressed by one of these.</summary>
public readonly record struct ImageDigest
{
    public const string Algorithm = "sha256";

    /// <summary>The 64 lowercase hex digits.</summary>
    public string Hex { get; }

    private ImageDigest(string hex) => Hex = hex;

    public static ImageDigest Parse(string value, string what)
        => TryParse(value, out var digest)
            ? digest
            : throw new SandboxException(SandboxErrorCode.InvalidArgument,
                $"{what} '{Truncate(value)}' is not a digest: expected 'sha256:' followed by 64 lowercase hex digits");

    public static bool TryParse(string? value, out ImageDigest digest)
    {
        digest = default;
        if (value is null || !value.StartsWith(Algorithm + ":", StringComparison.Ordinal))
            return false;
        var hex = value[(Algorithm.Length + 1)..];
        if (hex.Length != 64 || !hex.All(c => c is >= '0' and <= '9' or >= 'a' and <= 'f'))
            return false;
        digest = new ImageDigest(hex);
        return true;
    }

    public static ImageDigest FromHash(ReadOnlySpan<byte> sha256) => new(Convert.ToHexStringLower(sha256));

    public static ImageDigest Of(ReadOnlySpan<byte> content) => FromHash(SHA256.HashData(content));

    /// <summary>Short form for listings: the first 12 hex digits.</summary>
    public string Short => Hex[..12];

    public override string ToString() => Algorithm + ":" + Hex;

    private static string Truncate(string value) => value.Length > 80 ? value[..80] + "…" : value;
}
