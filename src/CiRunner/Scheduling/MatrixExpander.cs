using Sandbox.CiRunner.Expressions;

namespace Sandbox.CiRunner.Scheduling;

/// <summary>A matrix → its combinations, as GitHub expands them (docs/ci.md, reference §2): the cartesian product of
/// the keys other than include/exclude (first key outermost), then <c>exclude</c> (removes every combination an entry
/// partially matches), then <c>include</c> one entry at a time (extends every original combination whose original
/// values it does not change, else becomes a new combination that later includes never extend). Values match with
/// loose, case-insensitive equality; keys are case-insensitive.</summary>
public static class MatrixExpander
{
    public const int MaxCombinations = 256;

    public static IReadOnlyList<ExprObject> Expand(ExprValue matrix)
    {
        if (matrix.Kind != ExprKind.Object)
            throw new ExpressionException($"a matrix must be an object of keys to value lists, not {matrix.Kind.ToString().ToLowerInvariant()}");
        var keys = matrix.Properties.Keys.Where(k => !IsDirective(k)).ToList();
        foreach (var k in keys)
        {
            var values = matrix.Properties[k]!;
            if (values.Kind != ExprKind.Array || values.Items.Count == 0)
                throw new ExpressionException($"matrix key '{k}' must be a non-empty list of values");
        }
        // 1. The product (none at all without keys: an include-only matrix gives one job per entry).
        var combos = new List<ExprObject>();
        if (keys.Count > 0)
        {
            combos.Add(new ExprObject());
            foreach (var key in keys)
            {
                var next = new List<ExprObject>();
                foreach (var combo in combos)
                    foreach (var value in matrix.Properties[key]!.Items)
                    {
                        var c = Copy(combo);
                        c[key] = value;
                        next.Add(c);
                    }
                combos = next;
                if (combos.Count > MaxCombinations * 16)
                    throw new ExpressionException($"the matrix has more than {MaxCombinations * 16} combinations before exclude: at most {MaxCombinations} jobs are allowed");
            }
        }
        // 2. Exclude: every key of an entry must be a matrix key; a combination matching all of an entry's pairs goes.
        foreach (var entry in Entries(matrix, "exclude"))
        {
            foreach (var (k, _) in entry)
                if (!keys.Contains(k, StringComparer.OrdinalIgnoreCase))
                    throw new ExpressionException($"matrix exclude key '{k}' is not a key of the matrix ({string.Join(", ", keys)})");
            combos.RemoveAll(c => entry.All(p => Matches(c[p.Key], p.Value)));
        }
        // 3. Include: extend the original combinations it fits, else add it as a new one.
        var originals = combos.Count;
        foreach (var entry in Entries(matrix, "include"))
        {
            var fitted = false;
            for (var i = 0; i < originals; i++)
            {
                var combo = combos[i];
                if (!entry.All(p => !keys.Contains(p.Key, StringComparer.OrdinalIgnoreCase) || Matches(combo[p.Key], p.Value)))
                    continue;
                fitted = true;
                foreach (var (k, v) in entry)
                    if (!keys.Contains(k, StringComparer.OrdinalIgnoreCase)) combo[k] = v;
            }
            if (!fitted)
                combos.Add(Copy(entry));
        }
        if (combos.Count > MaxCombinations)
            throw new ExpressionException($"the matrix gives {combos.Count} jobs, more than the limit of {MaxCombinations}");
        return combos;
    }

    /// <summary>GitHub's display name of a leg: the values in order, e.g. <c>build (ubuntu, 3.12)</c>.</summary>
    public static string LegSuffix(ExprObject combo) =>
        "(" + string.Join(", ", combo.Select(p => p.Value.Kind is ExprKind.Array or ExprKind.Object ? p.Value.ToJson(false) : p.Value.ToDisplayString())) + ")";

    private static bool IsDirective(string key) => key.Equals("include", StringComparison.OrdinalIgnoreCase) || key.Equals("exclude", StringComparison.OrdinalIgnoreCase);

    private static IEnumerable<ExprObject> Entries(ExprValue matrix, string directive)
    {
        var list = matrix.Properties[directive];
        if (list is null) yield break;
        if (list.Kind != ExprKind.Array)
            throw new ExpressionException($"matrix {directive} must be a list of objects");
        foreach (var item in list.Items)
        {
            if (item.Kind != ExprKind.Object)
                throw new ExpressionException($"matrix {directive} entries must be objects, not {item.ToDisplayString()}");
            yield return item.Properties;
        }
    }

    private static bool Matches(ExprValue? actual, ExprValue wanted)
    {
        if (actual is null) return false;
        if (actual.Kind is ExprKind.Array or ExprKind.Object || wanted.Kind is ExprKind.Array or ExprKind.Object)
            return actual.Kind == wanted.Kind && string.Equals(actual.ToJson(false), wanted.ToJson(false), StringComparison.OrdinalIgnoreCase);
        return ExprValue.LooseEquals(actual, wanted);
    }

    private static ExprObject Copy(ExprObject source)
    {
        var c = new ExprObject();
        foreach (var (k, v) in source) c[k] = v;
        return c;
    }
}
