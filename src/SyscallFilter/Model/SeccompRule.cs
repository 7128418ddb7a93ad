namespace Sandbox.SyscallFilter;

/// <summary>
/// One rule: for each syscall in <paramref name="Names"/>, when every condition holds (AND; none = always),
/// <paramref name="Action"/> decides the call. Rules for one syscall are tried in profile order; the first that
/// matches decides, and the profile's default action decides when none does.
/// </summary>
public sealed record SeccompRule(
    IReadOnlyList<string> Names,
    SeccompAction Action,
    IReadOnlyList<ArgCondition> Conditions,
    string? Comment = null)
{
    public SeccompRule(IReadOnlyList<string> names, SeccompAction action)
        : this(names, action, Array.Empty<ArgCondition>())
    {
    }

    public bool IsUnconditional => Conditions.Count == 0;

    public bool Equals(SeccompRule? other) =>
        other is not null
        && Action == other.Action
        && Comment == other.Comment
        && Names.SequenceEqual(other.Names, StringComparer.Ordinal)
        && Conditions.SequenceEqual(other.Conditions);

    public override int GetHashCode() => HashCode.Combine(Action, Names.Count, Conditions.Count, Names.Count > 0 ? Names[0] : null);
}
