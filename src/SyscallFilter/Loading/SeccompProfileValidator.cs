
namespace Sandbox.SyscallFilter.Loading;

/// <summary>
/// Checks a profile's meaning and reports every problem: unknown syscalls, argument indexes outside 0-5,
/// errno outside [1, 4095], masked_eq conditions that can never hold, and rules for a syscall that an earlier
/// unconditional rule already decides (a conflicting action, or a rule that can never apply).
/// </summary>
internal static class SeccompProfileValidator
{
    internal static List<SeccompProfileError> Validate(SeccompProfile profile, string source)
    {
        var errors = new List<SeccompProfileError>();
        CheckAction(profile.DefaultAction, source, "default_action", errors);

        // syscall name -> index of the first rule that decides it unconditionally
        var decidedBy = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var r = 0; r < profile.Rules.Count; r++)
        {
            var rule = profile.Rules[r];
            var at = $"rules[{r}]";
            if (rule.Names.Count == 0)
            {
                errors.Add(new(source, $"{at}.names", "a rule must name at least one syscall"));
            }

            CheckAction(rule.Action, source, $"{at}.action", errors);
            for (var c = 0; c < rule.Conditions.Count; c++)
            {
                CheckCondition(rule.Conditions[c], source, $"{at}.args[{c}]", errors);
            }

            for (var n = 0; n < rule.Names.Count; n++)
            {
                var name = rule.Names[n];
                var nameAt = $"{at}.names[{n}]";
                if (!SyscallTable.TryGetNumber(name, out _))
                {
                    errors.Add(new(source, nameAt, $"unknown syscall '{name}' for {SyscallTable.ArchitectureName}"));
                    continue;
                }

                if (decidedBy.TryGetValue(name, out var first))
                {
                    var earlier = profile.Rules[first];
                    if (!rule.IsUnconditional)
                    {
                        errors.Add(new(source, nameAt,
                            $"this conditional rule for '{name}' can never apply: rules[{first}] already decides '{name}' unconditionally as {earlier.Action}"));
                    }
                    else if (rule.Action != earlier.Action)
                    {
                        errors.Add(new(source, nameAt,
                            $"'{name}' is {rule.Action} here but rules[{first}] already decides it unconditionally as {earlier.Action}"));
                    }
                }
                else if (rule.IsUnconditional)
                {
                    decidedBy[name] = r;
                }
            }
        }

        return errors;
    }

    /// <summary>Validates and throws one <see cref="SeccompProfileException"/> listing every problem.</summary>
    internal static void ThrowIfInvalid(SeccompProfile profile, string source)
    {
        var errors = Validate(profile, source);
        if (errors.Count > 0)
        {
            throw new SeccompProfileException(source, errors);
        }
    }

    private static void CheckAction(SeccompAction action, string source, string at, List<SeccompProfileError> errors)
    {
        if (action.Kind == SeccompActionKind.Errno && action.Errno is < 1 or > SeccompAction.MaxErrno)
        {
            errors.Add(new(source, at, $"errno {action.Errno} is out of range [1, {SeccompAction.MaxErrno}]"));
        }
        else if (!Enum.IsDefined(action.Kind))
        {
            errors.Add(new(source, at, $"unknown action kind {(int)action.Kind}"));
        }
    }

    private static void CheckCondition(ArgCondition condition, string source, string at, List<SeccompProfileError> errors)
    {
        if (condition.Index is < 0 or > ArgCondition.MaxIndex)
        {
            errors.Add(new(source, $"{at}.index", $"argument index {condition.Index} is out of range [0, {ArgCondition.MaxIndex}]"));
        }

        if (!Enum.IsDefined(condition.Op))
        {
            errors.Add(new(source, $"{at}.op", $"unknown operator {(int)condition.Op}"));
        }
        else if (condition.Op == ArgOperator.MaskedEq && (condition.Value & ~condition.Mask) != 0)
        {
            errors.Add(new(source, $"{at}.value",
                $"value 0x{condition.Value:x} has bits outside mask 0x{condition.Mask:x}, so 'masked_eq' can never hold"));
        }
    }
}
