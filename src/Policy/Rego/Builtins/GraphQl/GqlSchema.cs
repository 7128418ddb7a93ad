namespace Sandbox.Policy.Rego.GraphQl;

/// <summary>
/// A loaded schema: gqlparser's LoadSchema over the prelude (built-in scalars and directives) and a schema document,
/// with its validation (ValidateSchemaDocument): extensions merged into their types (an extension of a type that does
/// not exist creates it), roots resolved, every type's fields, arguments, members, interfaces and directives checked.
/// </summary>
internal sealed class GqlSchema
{
    private const string Prelude = """
        scalar Int
        scalar Float
        scalar String
        scalar Boolean
        scalar ID
        directive @include(if: Boolean!) on FIELD | FRAGMENT_SPREAD | INLINE_FRAGMENT
        directive @skip(if: Boolean!) on FIELD | FRAGMENT_SPREAD | INLINE_FRAGMENT
        directive @deprecated(reason: String = "No longer supported") on FIELD_DEFINITION | ARGUMENT_DEFINITION | INPUT_FIELD_DEFINITION | ENUM_VALUE
        directive @specifiedBy(url: String!) on SCALAR
        directive @oneOf on INPUT_OBJECT
        directive @defer(if: Boolean = true, label: String) on FRAGMENT_SPREAD | INLINE_FRAGMENT
        """;

    private static readonly GqlNode PreludeDoc = new GqlParser(Prelude).ParseSchemaDocument();

    public Dictionary<string, GqlNode> Types { get; } = new(StringComparer.Ordinal);
    public Dictionary<string, GqlNode> Directives { get; } = new(StringComparer.Ordinal);
    public GqlNode? Query { get; private set; }
    public GqlNode? Mutation { get; private set; }
    public GqlNode? Subscription { get; private set; }

    /// <summary>Object types that a type name (an interface, a union, an object) can be at run time.</summary>
    public Dictionary<string, List<GqlNode>> PossibleTypes { get; } = new(StringComparer.Ordinal);

    public static GqlSchema Load(GqlNode doc)
    {
        var s = new GqlSchema();
        var defs = new List<GqlNode>();
        foreach (var def in PreludeDoc.L("Definitions"))
        {
            var copy = Copy(def);
            copy["BuiltIn"] = true;
            s.Types[def.S("Name")] = copy;
            defs.Add(copy);
        }
        foreach (var def in doc.L("Definitions"))
        {
            var copy = Copy(def);
            if (s.Types.ContainsKey(def.S("Name")))
                throw new GqlError($"Cannot redeclare type {def.S("Name")}.", def.Position);
            s.Types[def.S("Name")] = copy;
            defs.Add(copy);
        }
        foreach (var ext in doc.L("Extensions"))
        {
            var name = ext.S("Name");
            if (!s.Types.TryGetValue(name, out var def))
            {
                def = new GqlNode { Position = ext.Position };
                def["Kind"] = ext.S("Kind");
                def["Name"] = name;
                s.Types[name] = def;
                defs.Add(def);
            }
            if (def.S("Kind") != ext.S("Kind"))
                throw new GqlError($"Cannot extend type {name} because the base type is a {def.S("Kind")}, not {ext.S("Kind")}.", ext.Position);
            foreach (var key in new[] { "Directives", "Fields", "EnumValues" })
                def[key] = def.L(key).Concat(ext.L(key)).ToList();
            foreach (var key in new[] { "Interfaces", "Types" })
                def[key] = def.Names(key).Concat(ext.Names(key)).ToList();
        }
        foreach (var def in defs)
        {
            switch (def.S("Kind"))
            {
                case "UNION":
                    foreach (var t in def.Names("Types"))
                        if (s.Types.TryGetValue(t, out var member)) s.AddPossible(def.S("Name"), member);
                    break;
                case "OBJECT" or "INPUT_OBJECT":
                    foreach (var i in def.Names("Interfaces")) s.AddPossible(i, def);
                    s.AddPossible(def.S("Name"), def);
                    break;
                case "INTERFACE":
                    foreach (var i in def.Names("Interfaces")) s.AddPossible(i, def);
                    break;
            }
        }
        foreach (var dir in PreludeDoc.L("Directives").Concat(doc.L("Directives")))
        {
            var name = dir.S("Name");
            if (s.Directives.ContainsKey(name) && name is not ("include" or "skip" or "deprecated" or "specifiedBy" or "defer" or "oneOf"))
                throw new GqlError($"Cannot redeclare directive {name}.", dir.Position);
            s.Directives.TryAdd(name, dir);
        }
        var schemas = doc.L("Schema");
        if (schemas.Count > 1)
            throw new GqlError("Cannot have multiple schema entry points, consider schema extensions instead.", schemas[1].Position);
        foreach (var entry in schemas.Concat(doc.L("SchemaExtension")).SelectMany(d => d.L("OperationTypes")))
        {
            if (!s.Types.TryGetValue(entry.S("Type"), out var root))
                throw new GqlError($"Schema root {entry.S("Operation")} refers to a type {entry.S("Type")} that does not exist.", entry.Position);
            switch (entry.S("Operation"))
            {
                case "query": s.Query = root; break;
                case "mutation": s.Mutation = root; break;
                default: s.Subscription = root; break;
            }
        }
        if (schemas.Count == 1) s.CheckDirectives(schemas[0].L("Directives"), "SCHEMA");
        foreach (var def in s.Types.Values) s.CheckDefinition(def);
        foreach (var dir in s.Directives.Values) s.CheckDirectiveDefinition(dir);
        s.Query ??= s.Types.GetValueOrDefault("Query");
        s.Mutation ??= s.Types.GetValueOrDefault("Mutation");
        s.Subscription ??= s.Types.GetValueOrDefault("Subscription");
        return s;
    }

    private static GqlNode Copy(GqlNode n)
    {
        var c = new GqlNode { Position = n.Position };
        foreach (var (k, v) in n.Fields) c[k] = v;
        return c;
    }

    private void AddPossible(string name, GqlNode def)
    {
        if (!PossibleTypes.TryGetValue(name, out var list)) PossibleTypes[name] = list = [];
        if (!list.Contains(def)) list.Add(def);
    }

    public static string NamedType(GqlNode type) => type.N("Elem") is { } elem ? NamedType(elem) : type.S("NamedType");

    public static string TypeString(GqlNode type) =>
        (type.N("Elem") is { } elem ? $"[{TypeString(elem)}]" : type.S("NamedType")) + (type.B("NonNull") ? "!" : "");

    private void CheckName(string name, (int, int) at)
    {
        if (name.StartsWith("__", StringComparison.Ordinal))
            throw new GqlError($"Name \"{name}\" must not begin with \"__\", which is reserved by GraphQL introspection.", at);
    }

    private void CheckTypeRef(GqlNode type)
    {
        if (!Types.ContainsKey(NamedType(type))) throw new GqlError($"Undefined type {NamedType(type)}.", type.Position);
    }

    private void CheckDefinition(GqlNode def)
    {
        var name = def.S("Name");
        var kind = def.S("Kind");
        foreach (var field in def.L("Fields"))
        {
            CheckName(field.S("Name"), field.Position);
            CheckTypeRef(field.N("Type")!);
            foreach (var arg in field.L("Arguments"))
            {
                CheckName(arg.S("Name"), arg.Position);
                CheckTypeRef(arg.N("Type")!);
                CheckDirectives(arg.L("Directives"), "ARGUMENT_DEFINITION");
            }
            CheckDirectives(field.L("Directives"), kind == "INPUT_OBJECT" ? "INPUT_FIELD_DEFINITION" : "FIELD_DEFINITION");
        }
        foreach (var t in def.Names("Types"))
        {
            if (!Types.TryGetValue(t, out var member)) throw new GqlError($"Undefined type {Quote(t)}.", def.Position);
            if (member.S("Kind") != "OBJECT") throw new GqlError($"{kind} type {Quote(t)} must be {Quote("OBJECT")}.", def.Position);
        }
        foreach (var i in def.Names("Interfaces")) CheckImplements(def, i);
        switch (kind)
        {
            case "OBJECT" or "INTERFACE":
                if (def.L("Fields").Count == 0) throw new GqlError($"{kind} {name}: must define one or more fields.", def.Position);
                foreach (var field in def.L("Fields"))
                    if (Types.TryGetValue(NamedType(field.N("Type")!), out var t) && t.S("Kind") == "INPUT_OBJECT")
                        throw new GqlError($"{kind} {field.S("Name")}: field must be one of SCALAR, OBJECT, INTERFACE, UNION, ENUM.", field.Position);
                break;
            case "ENUM":
                if (def.L("EnumValues").Count == 0) throw new GqlError($"{kind} {name}: must define one or more unique enum values.", def.Position);
                foreach (var value in def.L("EnumValues"))
                {
                    if (value.S("Name") is "true" or "false" or "null")
                        throw new GqlError($"{kind} {value.S("Name")}: non-enum value {value.S("Name")}.", value.Position);
                    CheckDirectives(value.L("Directives"), "ENUM_VALUE");
                }
                break;
            case "INPUT_OBJECT":
                if (def.L("Fields").Count == 0) throw new GqlError($"{kind} {name}: must define one or more input fields.", def.Position);
                foreach (var field in def.L("Fields"))
                    if (Types.TryGetValue(NamedType(field.N("Type")!), out var t) && t.S("Kind") is not ("SCALAR" or "ENUM" or "INPUT_OBJECT"))
                        throw new GqlError($"{t.S("Kind")} {field.S("Name")}: field must be one of SCALAR, ENUM, INPUT_OBJECT.", field.Position);
                break;
        }
        var fields = def.L("Fields");
        for (var i = 0; i < fields.Count; i++)
            for (var j = i + 1; j < fields.Count; j++)
                if (fields[i].S("Name") == fields[j].S("Name"))
                    throw new GqlError($"Field {name}.{fields[i].S("Name")} can only be defined once.", fields[j].Position);
        if (!def.B("BuiltIn")) CheckName(name, def.Position);
        CheckDirectives(def.L("Directives"), kind);
    }

    private static string Quote(string s) => "\"" + s + "\"";

    private void CheckImplements(GqlNode def, string intfName)
    {
        var name = def.S("Name");
        if (!Types.TryGetValue(intfName, out var intf)) throw new GqlError($"Undefined type {Quote(intfName)}.", def.Position);
        if (intf.S("Kind") != "INTERFACE") throw new GqlError($"{def.S("Kind")} {name} implements non-interface type {intfName}.", def.Position);
        foreach (var required in intf.L("Fields"))
        {
            var found = def.L("Fields").FirstOrDefault(f => f.S("Name") == required.S("Name"))
                ?? throw new GqlError($"For {name} to implement {intfName} it must have a field called {required.S("Name")}.", def.Position);
            if (!IsCovariant(required.N("Type")!, found.N("Type")!))
                throw new GqlError($"For {name} to implement {intfName} the field {found.S("Name")} must have type {TypeString(required.N("Type")!)}.", found.Position);
            foreach (var arg in required.L("Arguments"))
            {
                var fa = found.L("Arguments").FirstOrDefault(a => a.S("Name") == arg.S("Name"))
                    ?? throw new GqlError($"For {name} to implement {intfName} the field {found.S("Name")} must have the same arguments but it is missing {arg.S("Name")}.", found.Position);
                if (TypeString(arg.N("Type")!) != TypeString(fa.N("Type")!))
                    throw new GqlError($"For {name} to implement {intfName} the field {found.S("Name")}'s argument {arg.S("Name")} must be of type {TypeString(arg.N("Type")!)}.", fa.Position);
            }
            foreach (var fa in found.L("Arguments"))
                if (required.L("Arguments").All(a => a.S("Name") != fa.S("Name")) && fa.N("Type")!.B("NonNull") && fa["DefaultValue"] is null)
                    throw new GqlError($"For {name} to implement {intfName} any additional arguments on {found.S("Name")} must be optional or have a default value but {fa.S("Name")} is required.", fa.Position);
        }
        // An interface's own interfaces must be implemented too (transitively, by name).
        foreach (var ancestor in intf.Names("Interfaces"))
            if (!def.Names("Interfaces").Contains(ancestor))
                throw new GqlError($"{name} must implement {ancestor} because it is implemented by {intfName}.", def.Position);
    }

    /// <summary>A field's type may narrow its interface's: non-null for nullable, a member for a union or interface.</summary>
    private bool IsCovariant(GqlNode required, GqlNode actual)
    {
        if (required.B("NonNull") && !actual.B("NonNull")) return false;
        if (required.N("Elem") is { } re) return actual.N("Elem") is { } ae && IsCovariant(re, ae);
        if (actual.N("Elem") is not null) return false;
        var r = required.S("NamedType");
        var a = actual.S("NamedType");
        if (r == a) return true;
        return Types.TryGetValue(r, out var rt) && rt.S("Kind") is "INTERFACE" or "UNION"
            && PossibleTypes.GetValueOrDefault(r)?.Any(p => p.S("Name") == a) == true;
    }

    private void CheckDirectiveDefinition(GqlNode dir)
    {
        CheckName(dir.S("Name"), dir.Position);
        foreach (var arg in dir.L("Arguments"))
        {
            CheckName(arg.S("Name"), arg.Position);
            CheckTypeRef(arg.N("Type")!);
            foreach (var d in arg.L("Directives"))
                if (d.S("Name") == dir.S("Name"))
                    throw new GqlError($"Directive {dir.S("Name")} cannot refer to itself.", d.Position);
            CheckDirectives(arg.L("Directives"), "ARGUMENT_DEFINITION");
        }
    }

    private void CheckDirectives(List<GqlNode> dirs, string location)
    {
        foreach (var d in dirs)
        {
            CheckName(d.S("Name"), d.Position);
            if (!Directives.TryGetValue(d.S("Name"), out var def)) throw new GqlError($"Undefined directive {d.S("Name")}.", d.Position);
            if (!def.Names("Locations").Contains(location))
                throw new GqlError($"Directive {d.S("Name")} is not applicable on {location}.", d.Position);
        }
    }
}
