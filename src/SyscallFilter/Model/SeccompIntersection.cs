namespace Sandbox.SyscallFilter;

/// <summary>
/// The profile that allows a call only when both profiles allow it: the engine's own (a policy's choice) narrowed by
/// another (an OCI bundle's <c>linux.seccomp</c>). Never looser than either. Per syscall, the two first-match rule
/// lists (each ending in its profile's default) are combined pairwise in order — (rule i of the first, rule j of the
/// second) with both rules' conditions — which is again a first-match list whose first matching pair is exactly the
/// pair of first matches. A denial keeps the first profile's action when it denies, else the second's (so the errno
/// a caller sees may be the bundle's).
/// </summary>
public static class SeccompIntersection
{
    public static SeccompProfile Intersect(SeccompProfile first, SeccompProfile second, string name)
    {
        ArgumentNullException.ThrowIfNull(first);
        ArgumentNullException.ThrowIfNull(second);
        var defaultAction = Combine(first.DefaultAction, second.DefaultAction);
        var names = first.Rules.Concat(second.Rules).SelectMany(r => r.Names).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal);
        var rules = new List<SeccompRule>();
        // Unconditional single-entry decisions are grouped by action: one rule per action keeps the profile readable.
        var unconditional = new Dictionary<SeccompAction, List<string>>();
        foreach (var syscall in names)
        {
            var entries = Product(RulesFor(first, syscall), RulesFor(second, syscall));
            // A trailing run that decides as the default does is what the default decides anyway.
            while (entries.Count > 0 && entries[^1].Action == defaultAction)
                entries.RemoveAt(entries.Count - 1);
            if (entries.Count == 1 && entries[0].Conditions.Count == 0)
            {
                if (!unconditional.TryGetValue(entries[0].Action, out var list))
                    unconditional[entries[0].Action] = list = [];
                list.Add(syscall);
                continue;
            }
            foreach (var (action, conditions) in entries)
                rules.Add(new SeccompRule([syscall], action, conditions));
        }
        foreach (var (action, list) in unconditional)
            rules.Add(new SeccompRule(list, action, [], "both profiles decide these unconditionally"));
        return new SeccompProfile(name, defaultAction, rules);
    }

    /// <summary>Allowed only when both allow; a denial keeps the first profile's action if it denies.</summary>
    public static SeccompAction Combine(SeccompAction first, SeccompAction second)
    {
        if (!Allows(first))
            return first;
        if (!Allows(second))
            return second;
        return first.Kind == SeccompActionKind.Log || second.Kind == SeccompActionKind.Log ? SeccompAction.Log : SeccompAction.Allow;
    }

    private static bool Allows(SeccompAction action) => action.Kind is SeccompActionKind.Allow or SeccompActionKind.Log;

    /// <summary>The rules naming <paramref name="syscall"/>, in order, up to the first unconditional one, then the default.</summary>
    private static List<(SeccompAction Action, IReadOnlyList<ArgCondition> Conditions)> RulesFor(SeccompProfile profile, string syscall)
    {
        var list = new List<(SeccompAction, IReadOnlyList<ArgCondition>)>();
        foreach (var rule in profile.Rules)
        {
            if (!rule.Names.Contains(syscall, StringComparer.Ordinal))
                continue;
            list.Add((rule.Action, rule.Conditions));
            if (rule.IsUnconditional)
                return list;
        }
        list.Add((profile.DefaultAction, []));
        return list;
    }

    private static List<(SeccompAction Action, IReadOnlyList<ArgCondition> Conditions)> Product(
        List<(SeccompAction Action, IReadOnlyList<ArgCondition> Conditions)> first,
        List<(SeccompAction Action, IReadOnlyList<ArgCondition> Conditions)> second)
    {
        var result = new List<(SeccompAction, IReadOnlyList<ArgCondition>)>();
        foreach (var (a, ca) in first)
        {
            foreach (var (b, cb) in second)
            {
                IReadOnlyList<ArgCondition> conditions = [.. ca, .. cb.Where(c => !ca.Contains(c))];
                result.Add((Combine(a, b), conditions));
                // Nothing after an unconditional entry can match.
                if (conditions.Count == 0)
                    return result;
            }
        }
        return result;
    }
}
