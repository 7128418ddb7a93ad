namespace Sandbox.Policy.Rego.GraphQl;

/// <summary>
/// gqlparser's OverlappingFieldsCanBeMerged: fields that land on the same response name must be the same field with
/// the same arguments (unless their parents are different object types, so only one can apply) and must return
/// types of the same shape, recursively through their sub-selections, with gqlparser's message
/// (<c>Fields "x" conflict because a and b are different fields. Use different aliases ...</c>).
/// Bounded: the naive algorithm is quadratic per selection set and multiplies through fragments, so the work
/// (fields collected plus pairs compared) is capped and a query past the cap is refused by name, never passed.
/// </summary>
internal sealed class GqlOverlapRule(GqlSchema schema, Dictionary<string, GqlNode> fragments)
{
    /// <summary>Fields collected plus field pairs compared, for the whole document.</summary>
    public const int MaxWork = 200_000;
    private const int MaxDepth = 1000;
    private int _work;
    private int _depth;

    /// <summary>A field as it lands in a merged selection set: the node, the type it is selected on, its definition.</summary>
    private sealed record Collected(GqlNode Field, GqlNode Parent, GqlNode? Type);

    private sealed record Conflict(string ResponseName, string? Reason, List<Conflict>? Subs, (int, int) At);

    /// <summary>Checks every selection set of the document (operations, fields, inline fragments, fragment definitions).</summary>
    public void Check(GqlNode doc)
    {
        foreach (var op in doc.L("Operations"))
        {
            var root = op.S("Operation") switch { "query" => schema.Query, "mutation" => schema.Mutation, _ => schema.Subscription };
            if (root is not null) Walk(op.L("SelectionSet"), root);
        }
        foreach (var frag in doc.L("Fragments"))
            if (schema.Types.TryGetValue(frag.S("TypeCondition"), out var on)) Walk(frag.L("SelectionSet"), on);
    }

    /// <summary>Each selection set of the text once (spreads are not followed: fragment definitions get their own turn).</summary>
    private void Walk(List<GqlNode> selections, GqlNode parent)
    {
        if (selections.Count == 0) return;
        Enter();
        try
        {
            if (Within(Collect([(selections, parent)])).FirstOrDefault() is { } c) throw Error(c);
            foreach (var sel in selections)
            {
                if (IsSpread(sel)) continue;
                if (IsInline(sel))
                {
                    var on = sel.S("TypeCondition");
                    Walk(sel.L("SelectionSet"), on == "" ? parent : schema.Types.GetValueOrDefault(on) ?? parent);
                }
                else if (TypeOf(sel, parent) is { } t && schema.Types.TryGetValue(GqlSchema.NamedType(t), out var def))
                    Walk(sel.L("SelectionSet"), def);
            }
        }
        finally
        {
            _depth--;
        }
    }

    private void Enter()
    {
        if (++_depth > MaxDepth)
            throw new GqlError($"OverlappingFieldsCanBeMerged: query nested deeper than {MaxDepth} levels", default);
    }

    private void Spend((int, int) at)
    {
        if (++_work > MaxWork)
            throw new GqlError($"OverlappingFieldsCanBeMerged: query too large to check (more than {MaxWork} field comparisons)", at);
    }

    private static GqlError Error(Conflict c) =>
        new($"Fields \"{c.ResponseName}\" conflict because {Text(c)}. Use different aliases on the fields to fetch both if this was intentional.", c.At);

    private static string Text(Conflict c) => c.Subs is null
        ? c.Reason!
        : string.Join(" and ", c.Subs.Select(s => $"subfields \"{s.ResponseName}\" conflict because {Text(s)}"));

    /// <summary>
    /// The fields these selection sets merge into, by response name in first-seen order: inline fragments and spread
    /// fragments flattened, each fragment once (a fragment spread twice adds nothing new to compare).
    /// </summary>
    private Dictionary<string, List<Collected>> Collect(List<(List<GqlNode> Selections, GqlNode Parent)> sets)
    {
        var byName = new Dictionary<string, List<Collected>>(StringComparer.Ordinal);
        var seenFragments = new HashSet<string>(StringComparer.Ordinal);
        var work = new Queue<(List<GqlNode>, GqlNode)>(sets);
        while (work.Count > 0)
        {
            var (selections, parent) = work.Dequeue();
            var stack = new Stack<(List<GqlNode>, GqlNode, int)>();
            stack.Push((selections, parent, 0));
            while (stack.Count > 0)
            {
                var (list, type, i) = stack.Pop();
                if (i >= list.Count) continue;
                stack.Push((list, type, i + 1));
                var sel = list[i];
                Spend(sel.Position);
                if (IsSpread(sel))
                {
                    // Spread fragments come after the set's own fields, as gqlparser compares them.
                    if (seenFragments.Add(sel.S("Name")) && fragments.TryGetValue(sel.S("Name"), out var frag)
                        && schema.Types.TryGetValue(frag.S("TypeCondition"), out var on))
                        work.Enqueue((frag.L("SelectionSet"), on));
                }
                else if (IsInline(sel))
                {
                    var on = sel.S("TypeCondition");
                    stack.Push((sel.L("SelectionSet"), on == "" ? type : schema.Types.GetValueOrDefault(on) ?? type, 0));
                }
                else
                {
                    var name = sel.S("Alias") is { Length: > 0 } alias ? alias : sel.S("Name");
                    if (!byName.TryGetValue(name, out var same)) byName[name] = same = [];
                    same.Add(new Collected(sel, type, TypeOf(sel, type)));
                }
            }
        }
        return byName;
    }

    private IEnumerable<Conflict> Within(Dictionary<string, List<Collected>> fields)
    {
        foreach (var same in fields.Values)
            for (var i = 0; i < same.Count; i++)
                for (var j = i + 1; j < same.Count; j++)
                    if (Compare(false, same[i], same[j]) is { } c) yield return c;
    }

    private IEnumerable<Conflict> Between(bool exclusive, Dictionary<string, List<Collected>> a, Dictionary<string, List<Collected>> b)
    {
        foreach (var (name, fieldsA) in a)
        {
            if (!b.TryGetValue(name, out var fieldsB)) continue;
            foreach (var fa in fieldsA)
                foreach (var fb in fieldsB)
                    if (Compare(exclusive, fa, fb) is { } c) yield return c;
        }
    }

    /// <summary>gqlparser's findConflict: fields whose definitions are unknown are left to the other rules.</summary>
    private Conflict? Compare(bool parentsExclusive, Collected a, Collected b)
    {
        Spend(b.Field.Position);
        if (ReferenceEquals(a.Field, b.Field) || a.Type is null || b.Type is null) return null;
        var exclusive = parentsExclusive || (a.Parent.S("Name") != b.Parent.S("Name")
            && a.Parent.S("Kind") == "OBJECT" && b.Parent.S("Kind") == "OBJECT");
        var responseName = a.Field.S("Alias") is { Length: > 0 } alias ? alias : a.Field.S("Name");
        var at = b.Field.Position;
        if (!exclusive)
        {
            if (a.Field.S("Name") != b.Field.S("Name"))
                return new(responseName, $"{a.Field.S("Name")} and {b.Field.S("Name")} are different fields", null, at);
            if (!SameArguments(a.Field.L("Arguments"), b.Field.L("Arguments")))
                return new(responseName, "they have differing arguments", null, at);
        }
        if (TypesConflict(a.Type, b.Type))
            return new(responseName, $"they return conflicting types {GqlSchema.TypeString(a.Type)} and {GqlSchema.TypeString(b.Type)}", null, at);
        var subA = a.Field.L("SelectionSet");
        var subB = b.Field.L("SelectionSet");
        if (subA.Count == 0 || subB.Count == 0) return null;
        if (!schema.Types.TryGetValue(GqlSchema.NamedType(a.Type), out var typeA) || !schema.Types.TryGetValue(GqlSchema.NamedType(b.Type), out var typeB))
            return null;
        Enter();
        try
        {
            var subs = Between(exclusive, Collect([(subA, typeA)]), Collect([(subB, typeB)])).ToList();
            return subs.Count == 0 ? null : new(responseName, null, subs, at);
        }
        finally
        {
            _depth--;
        }
    }

    /// <summary>Same count, and each argument of one has a namesake of the same kind and text in the other.</summary>
    private static bool SameArguments(List<GqlNode> a, List<GqlNode> b) =>
        a.Count == b.Count && a.All(x => b.Any(y => x.S("Name") == y.S("Name") && SameValue(x.N("Value"), y.N("Value"))));

    private static bool SameValue(GqlNode? a, GqlNode? b) =>
        a is not null && b is not null && Equals(a["Kind"], b["Kind"]) && a.S("Raw") == b.S("Raw");

    /// <summary>gqlparser's doTypesConflict: list and non-null wrappers must match; two leaves must be the same type.</summary>
    private bool TypesConflict(GqlNode a, GqlNode b)
    {
        if (a.N("Elem") is { } ea) return b.N("Elem") is not { } eb || TypesConflict(ea, eb);
        if (b.N("Elem") is not null || a.B("NonNull") != b.B("NonNull")) return true;
        var ta = schema.Types.GetValueOrDefault(a.S("NamedType"));
        var tb = schema.Types.GetValueOrDefault(b.S("NamedType"));
        return IsLeaf(ta) && IsLeaf(tb) && ta!.S("Name") != tb!.S("Name");
    }

    private static bool IsLeaf(GqlNode? t) => t?.S("Kind") is "SCALAR" or "ENUM";

    /// <summary>The field's declared type on its parent, as gqlparser's walker resolves it (__typename is a String).</summary>
    private GqlNode? TypeOf(GqlNode field, GqlNode parent)
    {
        var name = field.S("Name");
        if (name == "__typename") return TypeNamed("String");
        if (parent.L("Fields").FirstOrDefault(f => f.S("Name") == name) is { } def) return def.N("Type");
        if (parent == schema.Query && name == "__schema") return TypeNamed("__Schema", nonNull: true);
        if (parent == schema.Query && name == "__type") return TypeNamed("__Type");
        return null;
    }

    private static GqlNode TypeNamed(string name, bool nonNull = false)
    {
        var t = new GqlNode { ["NamedType"] = name };
        if (nonNull) t["NonNull"] = true;
        return t;
    }

    private static bool IsSpread(GqlNode sel) => sel["Alias"] is null && sel["TypeCondition"] is null && sel["SelectionSet"] is null;
    private static bool IsInline(GqlNode sel) => sel["Alias"] is null && !IsSpread(sel);
}
