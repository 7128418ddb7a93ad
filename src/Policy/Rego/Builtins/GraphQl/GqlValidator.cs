namespace Sandbox.Policy.Rego.GraphQl;

/// <summary>
/// Validation of a query document against a schema with gqlparser's rules and messages: operations (unique names,
/// a lone anonymous operation, known root types, one top-level field per subscription), fields on their type with
/// known and required arguments and leaf selections, fragments (known, unique, used, on composite types, spreadable,
/// without cycles), directives (known, at their locations, once each), variables (unique, input types, defined,
/// used, in allowed positions), values of the expected types, and last, fields that merge (GqlOverlapRule).
/// </summary>
internal sealed class GqlValidator(GqlSchema schema, GqlNode doc)
{
    private readonly Dictionary<string, GqlNode> _fragments = new(StringComparer.Ordinal);

    /// <summary>The first error, in document order, as gqlparser reports it; null when the query is valid.</summary>
    public static GqlError? Validate(GqlSchema schema, GqlNode doc)
    {
        try
        {
            new GqlValidator(schema, doc).Run();
            return null;
        }
        catch (GqlError e)
        {
            return e;
        }
    }

    private static GqlError Fail(string message, (int, int) at) => new(message, at);

    private void Run()
    {
        var ops = doc.L("Operations");
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var frag in doc.L("Fragments"))
        {
            if (!_fragments.TryAdd(frag.S("Name"), frag))
                throw Fail($"There can be only one fragment named \"{frag.S("Name")}\".", frag.Position);
        }
        foreach (var op in ops)
        {
            if (op.S("Name") == "" && ops.Count > 1) throw Fail("This anonymous operation must be the only defined operation.", op.Position);
            if (op.S("Name") != "" && !names.Add(op.S("Name")))
                throw Fail($"There can be only one operation named \"{op.S("Name")}\".", op.Position);
            CheckOperation(op);
        }
        var used = new HashSet<string>(StringComparer.Ordinal);
        foreach (var op in ops) CollectSpreads(op.L("SelectionSet"), used);
        foreach (var frag in doc.L("Fragments"))
        {
            if (!used.Contains(frag.S("Name"))) throw Fail($"Fragment \"{frag.S("Name")}\" is never used.", frag.Position);
            CheckFragmentCycle(frag, new HashSet<string>(StringComparer.Ordinal) { frag.S("Name") });
            var on = frag.S("TypeCondition");
            if (!schema.Types.TryGetValue(on, out var type)) throw Fail($"Unknown type \"{on}\".", frag.Position);
            if (type.S("Kind") is not ("OBJECT" or "INTERFACE" or "UNION"))
                throw Fail($"Fragment \"{frag.S("Name")}\" cannot condition on non composite type \"{on}\".", frag.Position);
        }
        // Runs after the other rules, so fragments are known, acyclic and on real types.
        new GqlOverlapRule(schema, _fragments).Check(doc);
    }

    /// <summary>The fragments spread from these selections, directly or through other fragments (a worklist, no recursion).</summary>
    private void CollectSpreads(List<GqlNode> selections, HashSet<string> into)
    {
        var work = new Stack<List<GqlNode>>();
        work.Push(selections);
        while (work.Count > 0)
        {
            foreach (var sel in work.Pop())
            {
                if (!IsSpread(sel)) work.Push(sel.L("SelectionSet"));
                else if (into.Add(sel.S("Name")) && _fragments.TryGetValue(sel.S("Name"), out var frag)) work.Push(frag.L("SelectionSet"));
            }
        }
    }

    private static bool IsSpread(GqlNode sel) => sel["Alias"] is null && sel["TypeCondition"] is null && sel["SelectionSet"] is null;
    private static bool IsInline(GqlNode sel) => sel["Alias"] is null && !IsSpread(sel);

    /// <summary>A spread that leads back to this fragment; each fragment reached is walked once (linear, not per path).</summary>
    private void CheckFragmentCycle(GqlNode frag, HashSet<string> seen)
    {
        var root = frag.S("Name");
        var work = new Stack<GqlNode>();
        work.Push(frag);
        while (work.Count > 0)
        {
            var spreads = new List<GqlNode>();
            Spreads(work.Pop().L("SelectionSet"), spreads);
            foreach (var s in spreads)
            {
                if (s.S("Name") == root) throw Fail($"Cannot spread fragment \"{root}\" within itself.", s.Position);
                if (seen.Add(s.S("Name")) && _fragments.TryGetValue(s.S("Name"), out var next)) work.Push(next);
            }
        }
    }

    private static void Spreads(List<GqlNode> selections, List<GqlNode> into)
    {
        foreach (var sel in selections)
        {
            if (IsSpread(sel)) into.Add(sel);
            else Spreads(sel.L("SelectionSet"), into);
        }
    }

    // ---- operations and variables ----

    private Dictionary<string, GqlNode> _vars = new(StringComparer.Ordinal);
    private HashSet<string> _usedVars = new(StringComparer.Ordinal);
    private GqlNode _op = new();

    private void CheckOperation(GqlNode op)
    {
        _op = op;
        _vars = new(StringComparer.Ordinal);
        _usedVars = new(StringComparer.Ordinal);
        var kind = op.S("Operation");
        var root = kind switch { "query" => schema.Query, "mutation" => schema.Mutation, _ => schema.Subscription }
            ?? throw Fail($"Schema does not support operation type \"{kind}\"", op.Position);
        foreach (var v in op.L("VariableDefinitions"))
        {
            var name = v.S("Variable");
            if (!_vars.TryAdd(name, v)) throw Fail($"There can be only one variable named \"${name}\".", v.Position);
            var type = v.N("Type")!;
            var named = GqlSchema.NamedType(type);
            if (!schema.Types.TryGetValue(named, out var def)) throw Fail($"Unknown type \"{named}\".", type.Position);
            if (def.S("Kind") is not ("SCALAR" or "ENUM" or "INPUT_OBJECT"))
                throw Fail($"Variable \"${name}\" cannot be non-input type \"{GqlSchema.TypeString(type)}\".", type.Position);
            if (v.N("DefaultValue") is { } dv) CheckValue(dv, type);
            CheckDirectives(v.L("Directives"), "VARIABLE_DEFINITION");
        }
        CheckDirectives(op.L("Directives"), kind.ToUpperInvariant());
        if (kind == "subscription" && op.L("SelectionSet").Count > 1)
            throw Fail(op.S("Name") == "" ? "Anonymous Subscription must select only one top level field."
                : $"Subscription \"{op.S("Name")}\" must select only one top level field.", op.Position);
        CheckSelections(op.L("SelectionSet"), root, new HashSet<string>(StringComparer.Ordinal));
        foreach (var v in op.L("VariableDefinitions"))
            if (!_usedVars.Contains(v.S("Variable")))
                throw Fail(op.S("Name") == "" ? $"Variable \"${v.S("Variable")}\" is never used."
                    : $"Variable \"${v.S("Variable")}\" is never used in operation \"{op.S("Name")}\".", v.Position);
    }

    // ---- selections ----

    /// <summary>Deepest walk through selections and fragment spreads: recursion stays far from the stack's end.</summary>
    private const int MaxDepth = 1000;
    private int _depth;

    private void CheckSelections(List<GqlNode> selections, GqlNode parent, HashSet<string> visiting)
    {
        if (++_depth > MaxDepth) throw Fail($"query nested deeper than {MaxDepth} levels (through fragments)", selections.FirstOrDefault()?.Position ?? default);
        try
        {
            CheckSelectionList(selections, parent, visiting);
        }
        finally
        {
            _depth--;
        }
    }

    private void CheckSelectionList(List<GqlNode> selections, GqlNode parent, HashSet<string> visiting)
    {
        foreach (var sel in selections)
        {
            if (IsSpread(sel))
            {
                var name = sel.S("Name");
                if (!_fragments.TryGetValue(name, out var frag)) throw Fail($"Unknown fragment \"{name}\".", sel.Position);
                CheckDirectives(sel.L("Directives"), "FRAGMENT_SPREAD");
                if (schema.Types.TryGetValue(frag.S("TypeCondition"), out var fragType))
                {
                    if (!Overlaps(parent, fragType))
                        throw Fail($"Fragment \"{name}\" cannot be spread here as objects of type \"{parent.S("Name")}\" can never be of type \"{fragType.S("Name")}\".", sel.Position);
                    // A fragment's body is checked once per operation, however often it is spread (no blow-up, no cycles).
                    if (visiting.Add(name))
                    {
                        CheckDirectives(frag.L("Directives"), "FRAGMENT_DEFINITION");
                        CheckSelections(frag.L("SelectionSet"), fragType, visiting);
                    }
                }
            }
            else if (IsInline(sel))
            {
                var type = parent;
                var on = sel.S("TypeCondition");
                if (on != "")
                {
                    if (!schema.Types.TryGetValue(on, out type)) throw Fail($"Unknown type \"{on}\".", sel.Position);
                    if (type.S("Kind") is not ("OBJECT" or "INTERFACE" or "UNION"))
                        throw Fail($"Fragment cannot condition on non composite type \"{on}\".", sel.Position);
                    if (!Overlaps(parent, type))
                        throw Fail($"Fragment cannot be spread here as objects of type \"{parent.S("Name")}\" can never be of type \"{on}\".", sel.Position);
                }
                CheckDirectives(sel.L("Directives"), "INLINE_FRAGMENT");
                CheckSelections(sel.L("SelectionSet"), type, visiting);
            }
            else CheckField(sel, parent, visiting);
        }
    }

    private bool Overlaps(GqlNode a, GqlNode b)
    {
        var pa = Possible(a);
        var pb = Possible(b);
        return pa.Any(x => pb.Contains(x));
    }

    private HashSet<string> Possible(GqlNode t) => t.S("Kind") == "OBJECT"
        ? [t.S("Name")]
        : schema.PossibleTypes.GetValueOrDefault(t.S("Name"))?.Select(p => p.S("Name")).ToHashSet() ?? [];

    private void CheckField(GqlNode field, GqlNode parent, HashSet<string> visiting)
    {
        var name = field.S("Name");
        CheckDirectives(field.L("Directives"), "FIELD");
        if (name == "__typename") return;
        GqlNode? def = parent.L("Fields").FirstOrDefault(f => f.S("Name") == name);
        if (def is null && parent == schema.Query && name is "__schema" or "__type") return;
        if (def is null) throw Fail($"Cannot query field \"{name}\" on type \"{parent.S("Name")}\".", field.Position);
        CheckArguments(field.L("Arguments"), def.L("Arguments"), a => $"Unknown argument \"{a}\" on field \"{parent.S("Name")}.{name}\".", field.Position,
            (arg, type) => $"Field \"{name}\" argument \"{arg}\" of type \"{type}\" is required, but it was not provided.");
        var typeName = GqlSchema.NamedType(def.N("Type")!);
        if (!schema.Types.TryGetValue(typeName, out var type)) return;
        var leaf = type.S("Kind") is "SCALAR" or "ENUM";
        var sub = field.L("SelectionSet");
        if (leaf && sub.Count > 0)
            throw Fail($"Field \"{name}\" must not have a selection since type \"{typeName}\" has no subfields.", field.Position);
        if (!leaf && sub.Count == 0)
            throw Fail($"Field \"{name}\" of type \"{GqlSchema.TypeString(def.N("Type")!)}\" must have a selection of subfields. Did you mean \"{name} {{ ... }}\"?", field.Position);
        CheckSelections(sub, type, visiting);
    }

    private void CheckArguments(List<GqlNode> given, List<GqlNode> defs, Func<string, string> unknown, (int, int) at, Func<string, string, string> missing)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var arg in given)
        {
            if (!seen.Add(arg.S("Name"))) throw Fail($"There can be only one argument named \"{arg.S("Name")}\".", arg.Position);
            var def = defs.FirstOrDefault(d => d.S("Name") == arg.S("Name")) ?? throw Fail(unknown(arg.S("Name")), arg.Position);
            CheckValue(arg.N("Value")!, def.N("Type")!, def["DefaultValue"] is not null);
        }
        foreach (var def in defs)
            if (def.N("Type")!.B("NonNull") && def["DefaultValue"] is null && !seen.Contains(def.S("Name")))
                throw Fail(missing(def.S("Name"), GqlSchema.TypeString(def.N("Type")!)), at);
    }

    private void CheckDirectives(List<GqlNode> dirs, string location)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var d in dirs)
        {
            var name = d.S("Name");
            if (!schema.Directives.TryGetValue(name, out var def)) throw Fail($"Unknown directive \"@{name}\".", d.Position);
            if (!def.Names("Locations").Contains(location))
                throw Fail($"Directive \"@{name}\" may not be used on {location}.", d.Position);
            if (!def.B("IsRepeatable") && !seen.Add(name))
                throw Fail($"The directive \"@{name}\" can only be used once at this location.", d.Position);
            CheckArguments(d.L("Arguments"), def.L("Arguments"), a => $"Unknown argument \"{a}\" on directive \"@{name}\".", d.Position,
                (arg, type) => $"Directive \"@{name}\" argument \"{arg}\" of type \"{type}\" is required, but it was not provided.");
        }
    }

    // ---- values ----

    private void CheckValue(GqlNode value, GqlNode type, bool hasDefault = false)
    {
        var kind = value["Kind"] is int k ? k : -1;
        var raw = value.S("Raw");
        if (kind == GqlValueKind.Variable)
        {
            if (!_vars.TryGetValue(raw, out var v))
                throw Fail(_op.S("Name") == "" ? $"Variable \"${raw}\" is not defined." : $"Variable \"${raw}\" is not defined by operation \"{_op.S("Name")}\".", value.Position);
            _usedVars.Add(raw);
            var varType = v.N("Type")!;
            // A nullable variable may feed a non-null position only when either side has a default value.
            var effective = type.B("NonNull") && !varType.B("NonNull") && (v["DefaultValue"] is not null || hasDefault) ? Nullable(type) : type;
            if (!Fits(varType, effective))
                throw Fail($"Variable \"${raw}\" of type \"{GqlSchema.TypeString(varType)}\" used in position expecting type \"{GqlSchema.TypeString(type)}\".", value.Position);
            return;
        }
        if (kind == GqlValueKind.Null)
        {
            if (type.B("NonNull")) throw Fail($"Expected value of type \"{GqlSchema.TypeString(type)}\", found null.", value.Position);
            return;
        }
        if (type.N("Elem") is { } elem)
        {
            if (kind == GqlValueKind.List) foreach (var c in value.L("Children")) CheckValue(c.N("Value")!, elem);
            else CheckValue(value, elem);
            return;
        }
        if (!schema.Types.TryGetValue(type.S("NamedType"), out var def)) return;
        var typeText = GqlSchema.TypeString(type);
        switch (def.S("Kind"))
        {
            case "INPUT_OBJECT":
                if (kind != GqlValueKind.Object) throw Fail($"Expected value of type \"{typeText}\", found {Show(value)}.", value.Position);
                var seen = new HashSet<string>(StringComparer.Ordinal);
                foreach (var c in value.L("Children"))
                {
                    if (!seen.Add(c.S("Name"))) throw Fail($"There can be only one input field named \"{c.S("Name")}\".", c.Position);
                    var f = def.L("Fields").FirstOrDefault(x => x.S("Name") == c.S("Name"))
                        ?? throw Fail($"Field \"{c.S("Name")}\" is not defined by type \"{def.S("Name")}\".", c.Position);
                    CheckValue(c.N("Value")!, f.N("Type")!, f["DefaultValue"] is not null);
                }
                foreach (var f in def.L("Fields"))
                    if (f.N("Type")!.B("NonNull") && f["DefaultValue"] is null && !seen.Contains(f.S("Name")))
                        throw Fail($"Field \"{def.S("Name")}.{f.S("Name")}\" of required type \"{GqlSchema.TypeString(f.N("Type")!)}\" was not provided.", value.Position);
                return;
            case "ENUM":
                if (kind != GqlValueKind.Enum || def.L("EnumValues").All(e => e.S("Name") != raw))
                    throw Fail(kind == GqlValueKind.Enum ? $"Value \"{raw}\" does not exist in \"{typeText}\" enum."
                        : $"Enum \"{typeText}\" cannot represent non-enum value: {Show(value)}.", value.Position);
                return;
            case "SCALAR":
                var ok = def.S("Name") switch
                {
                    "Int" => kind == GqlValueKind.Int,
                    "Float" => kind is GqlValueKind.Int or GqlValueKind.Float,
                    "String" => kind is GqlValueKind.String or GqlValueKind.Block,
                    "Boolean" => kind == GqlValueKind.Boolean,
                    "ID" => kind is GqlValueKind.Int or GqlValueKind.String or GqlValueKind.Block,
                    _ => true,
                };
                if (!ok)
                    throw Fail(def.S("Name") switch
                    {
                        "Int" => $"Int cannot represent non-integer value: {Show(value)}",
                        "Float" => $"Float cannot represent non numeric value: {Show(value)}",
                        "String" => $"String cannot represent a non string value: {Show(value)}",
                        "Boolean" => $"Boolean cannot represent a non boolean value: {Show(value)}",
                        _ => $"ID cannot represent a non-string and non-integer value: {Show(value)}",
                    }, value.Position);
                return;
        }
    }

    private static GqlNode Nullable(GqlNode type)
    {
        var n = new GqlNode { Position = type.Position };
        foreach (var (k, v) in type.Fields) n[k] = v;
        n["NonNull"] = false;
        return n;
    }

    /// <summary>gqlparser's (and the spec's) AreTypesCompatible: a variable's type may be stricter than the position's.</summary>
    private static bool Fits(GqlNode varType, GqlNode position)
    {
        if (position.B("NonNull") && !varType.B("NonNull")) return false;
        if (position.N("Elem") is { } pe) return varType.N("Elem") is { } ve && Fits(ve, pe);
        if (varType.N("Elem") is not null) return false;
        return varType.S("NamedType") == position.S("NamedType");
    }

    private static string Show(GqlNode value) => value["Kind"] switch
    {
        GqlValueKind.String => "\"" + value.S("Raw") + "\"",
        GqlValueKind.Block => "\"\"\"" + value.S("Raw") + "\"\"\"",
        GqlValueKind.List => "[" + string.Join(", ", value.L("Children").Select(c => Show(c.N("Value")!))) + "]",
        GqlValueKind.Object => "{" + string.Join(", ", value.L("Children").Select(c => c.S("Name") + ": " + Show(c.N("Value")!))) + "}",
        GqlValueKind.Variable => "$" + value.S("Raw"),
        _ => value.S("Raw"),
    };
}
