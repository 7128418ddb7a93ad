using System.Diagnostics.CodeAnalysis;

namespace Sandbox.Isolation;

/// <summary>A sandbox's identifier: 1–64 characters of [a-z0-9-], starting with a letter or digit. Used in cgroup
/// and file names, so it is validated wherever it enters.</summary>
public readonly record struct SandboxId
{
    public const int MaxLength = 64;

    public string Value { get; }

    private SandboxId(string value) => Value = value;

    public static SandboxId New() => new("sb-" + Convert.ToHexStringLower(KernelRandom.GetBytes(8)));

    public static SandboxId Parse(string value) =>
        TryParse(value, out var id)
            ? id
            : throw new SandboxException(SandboxErrorCode.InvalidArgument,
                $"sandbox id '{Truncate(value)}' is invalid: expected 1-{MaxLength} characters of [a-z0-9-] starting with a letter or digit");

    public static bool TryParse([NotNullWhen(true)] string? value, out SandboxId id)
    {
        id = default;
        if (string.IsNullOrEmpty(value) || value.Length > MaxLength || value[0] == '-')
            return false;
        foreach (var c in value)
        {
            if (!(c is >= 'a' and <= 'z' or >= '0' and <= '9' or '-'))
                return false;
        }
        id = new SandboxId(value);
        return true;
    }

    public override string ToString() => Value;

    private static string Truncate(string? s) => s is null ? "" : s.Length <= 80 ? s : s[..80] + "...";
}
