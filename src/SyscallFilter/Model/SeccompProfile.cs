using Sandbox.SyscallFilter.Loading;

namespace Sandbox.SyscallFilter;

/// <summary>
/// A seccomp profile for x86_64: a default action and ordered rules. For a syscall, the rules naming it are
/// tried in order and the first whose conditions all hold decides; otherwise <paramref name="DefaultAction"/> does.
/// Immutable; build one with a loader (<see cref="SeccompProfileLoader"/>) or <see cref="SeccompProfiles.GetBuiltIn"/>.
/// </summary>
public sealed record SeccompProfile(string Name, SeccompAction DefaultAction, IReadOnlyList<SeccompRule> Rules)
{
    /// <summary>
    /// A copy that allows each of <paramref name="names"/> unconditionally (a policy's <c>syscall_profile.add</c>).
    /// Existing rules for those syscalls are dropped, so the added allow is the only rule for them. Unknown names
    /// throw <see cref="SeccompProfileException"/> listing every one.
    /// </summary>
    public SeccompProfile WithAllowedSyscalls(IEnumerable<string> names)
    {
        ArgumentNullException.ThrowIfNull(names);
        var source = $"additions to seccomp profile '{Name}'";
        var added = new List<string>();
        var errors = new List<SeccompProfileError>();
        var index = 0;
        foreach (var name in names)
        {
            if (name is null || !SyscallTable.TryGetNumber(name, out _))
            {
                errors.Add(new SeccompProfileError(source, $"add[{index}]", $"unknown syscall '{name}' for {SyscallTable.ArchitectureName}"));
            }
            else if (!added.Contains(name, StringComparer.Ordinal))
            {
                added.Add(name);
            }

            index++;
        }

        if (errors.Count > 0)
        {
            throw new SeccompProfileException(source, errors);
        }

        if (added.Count == 0)
        {
            return this;
        }

        var addedSet = new HashSet<string>(added, StringComparer.Ordinal);
        var rules = new List<SeccompRule>(Rules.Count + 1);
        foreach (var rule in Rules)
        {
            if (!rule.Names.Any(addedSet.Contains))
            {
                rules.Add(rule);
                continue;
            }

            var kept = rule.Names.Where(n => !addedSet.Contains(n)).ToArray();
            if (kept.Length > 0)
            {
                rules.Add(rule with { Names = kept });
            }
        }

        rules.Add(new SeccompRule(added.ToArray(), SeccompAction.Allow, Array.Empty<ArgCondition>(), "added by policy"));
        return this with { Rules = rules.ToArray() };
    }

    public bool Equals(SeccompProfile? other) =>
        other is not null
        && Name == other.Name
        && DefaultAction == other.DefaultAction
        && Rules.SequenceEqual(other.Rules);

    public override int GetHashCode() => HashCode.Combine(Name, DefaultAction, Rules.Count);
}
