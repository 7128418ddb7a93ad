using System.Globalization;

namespace Sandbox.SyscallFilter.Tests.Profiles.Docker;

/// <summary>
/// What Docker's default seccomp profile allows on x86_64 with no capabilities, read from
/// <c>docker-default-x86_64.allowed</c> (derived from moby/profiles by derive_docker_allowlist.py). Each syscall maps
/// to its rules; a rule is a list of conditions that must all hold (an empty list: any arguments), and any rule may
/// allow. Conditions are 64-bit unsigned compares, as libseccomp makes them.
/// </summary>
internal sealed class DockerAllowlist
{
    public const string FileName = "docker-default-x86_64.allowed";

    private DockerAllowlist(IReadOnlyDictionary<string, List<ArgCondition[]>> rules) => Rules = rules;

    public IReadOnlyDictionary<string, List<ArgCondition[]>> Rules { get; }

    public static DockerAllowlist Load() =>
        Parse(File.ReadAllLines(Path.Combine(AppContext.BaseDirectory, "Profiles", "Docker", FileName)));

    public static DockerAllowlist Parse(IEnumerable<string> lines)
    {
        var rules = new Dictionary<string, List<ArgCondition[]>>(StringComparer.Ordinal);
        var lineNumber = 0;
        foreach (var raw in lines)
        {
            lineNumber++;
            var line = raw.Trim();
            if (line.Length == 0 || line.StartsWith('#'))
            {
                continue;
            }

            var space = line.IndexOf(' ');
            var name = space < 0 ? line : line[..space];
            var conditions = space < 0
                ? []
                : line[(space + 1)..].Split("&&", StringSplitOptions.TrimEntries).Select(c => ParseCondition(c, lineNumber)).ToArray();
            if (!rules.TryGetValue(name, out var list))
            {
                rules[name] = list = [];
            }

            list.Add(conditions);
        }

        return new DockerAllowlist(rules);
    }

    /// <summary>Whether Docker's profile lets <paramref name="name"/> run with these arguments.</summary>
    public bool Allows(string name, ReadOnlySpan<ulong> args)
    {
        if (!Rules.TryGetValue(name, out var alternatives))
        {
            return false;
        }

        foreach (var conditions in alternatives)
        {
            var all = true;
            foreach (var c in conditions)
            {
                all &= c.IsSatisfiedBy(args[c.Index]);
            }

            if (all)
            {
                return true;
            }
        }

        return false;
    }

    // argN OP V  or  argN & M == V
    private static ArgCondition ParseCondition(string text, int lineNumber)
    {
        var parts = text.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length < 3 || !parts[0].StartsWith("arg", StringComparison.Ordinal)
            || !int.TryParse(parts[0].AsSpan(3), CultureInfo.InvariantCulture, out var index) || index is < 0 or > 5)
        {
            throw new FormatException($"{FileName}:{lineNumber}: bad condition '{text}' (expected 'argN OP VALUE' or 'argN & MASK == VALUE')");
        }

        if (parts is [_, "&", var mask, "==", var value])
        {
            return new ArgCondition(index, ArgOperator.MaskedEq, Number(value, lineNumber), Number(mask, lineNumber));
        }

        var op = parts[1] switch
        {
            "==" => ArgOperator.Eq,
            "!=" => ArgOperator.Ne,
            "<" => ArgOperator.Lt,
            "<=" => ArgOperator.Le,
            ">" => ArgOperator.Gt,
            ">=" => ArgOperator.Ge,
            _ => throw new FormatException($"{FileName}:{lineNumber}: unknown operator '{parts[1]}' (expected == != < <= > >= or &)"),
        };
        return new ArgCondition(index, op, Number(parts[2], lineNumber));
    }

    private static ulong Number(string text, int lineNumber) =>
        text.StartsWith("0x", StringComparison.Ordinal)
        && ulong.TryParse(text.AsSpan(2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var value)
            ? value
            : throw new FormatException($"{FileName}:{lineNumber}: bad number '{text}' (expected 0x hex)");
}
