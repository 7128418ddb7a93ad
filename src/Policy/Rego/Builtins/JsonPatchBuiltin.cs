namespace Sandbox.Policy.Rego;

/// <summary>
/// json.patch(doc, patches): RFC 6902 operations (add, remove, replace, move, copy, test) applied in order to an
/// immutable document, as OPA's: a path is a JSON pointer ("/a/0", the leading "/" optional, ~0 and ~1 escaped) or an
/// array of keys; sets are addressed by member. Any operation that cannot apply is a builtin error (undefined unless
/// strict).
/// </summary>
internal static class JsonPatchBuiltin
{
    private const string Fn = "json.patch";

    public static void Register(BuiltinTable t) => t.Register(Fn, 2, (a, _) =>
    {
        var doc = a[0];
        foreach (var p in BuiltinTable.Elems(a, 1, Fn))
        {
            if (p is not ObjectValue op) throw new BuiltinTypeException($"{Fn}: each patch must be an object, got {Value.TypeName(p)}");
            doc = Apply(doc, op);
        }
        return doc;
    });

    private static Value Apply(Value doc, ObjectValue op)
    {
        var name = op.Get("op") is StringValue s ? s.V : throw new BuiltinException($"{Fn}: a patch needs a string \"op\"");
        var path = Path(op.Get("path") ?? throw new BuiltinException($"{Fn}: a patch needs a \"path\""));
        Value Val() => op.Get("value") ?? throw new BuiltinException($"{Fn}: \"{name}\" needs a \"value\"");
        Value[] From() => Path(op.Get("from") ?? throw new BuiltinException($"{Fn}: \"{name}\" needs a \"from\""));
        switch (name)
        {
            case "add": return Add(doc, path, 0, Val());
            case "remove": return Remove(doc, path, 0);
            // Replacing the empty path replaces the whole document (RFC 6901: "" is the root), whatever its type.
            case "replace": return path.Length == 0 ? Val() : Add(Remove(doc, path, 0), path, 0, Val());
            case "move":
                {
                    var from = From();
                    var v = Get(doc, from);
                    return Add(Remove(doc, from, 0), path, 0, v);
                }
            case "copy": return Add(doc, path, 0, Get(doc, From()));
            case "test":
                if (!Get(doc, path).Equals(Val())) throw new BuiltinException($"{Fn}: test failed at {Show(path)}");
                return doc;
            default: throw new BuiltinException($"{Fn}: unknown op \"{name}\" (accepted: add, remove, replace, move, copy, test)");
        }
    }

    private static Value[] Path(Value p) => p switch
    {
        ArrayValue arr => arr.Items,
        StringValue s when s.V.Length == 0 => [],
        StringValue s => (s.V.StartsWith('/') ? s.V[1..] : s.V).Split('/')
            .Select(seg => (Value)Value.String(seg.Replace("~1", "/", StringComparison.Ordinal).Replace("~0", "~", StringComparison.Ordinal))).ToArray(),
        _ => throw new BuiltinTypeException($"{Fn}: a path must be a string or an array, got {Value.TypeName(p)}"),
    };

    private static string Show(Value[] path) => new ArrayValue(path).ToJson();

    private static int Index(Value seg, int length, bool allowEnd)
    {
        if (allowEnd && seg is StringValue { V: "-" }) return length;
        var ok = seg switch
        {
            NumberValue n when n.TryGetInt(out var l) && l >= 0 && l <= int.MaxValue => (int)l,
            StringValue s when s.V.Length > 0 && s.V.All(char.IsAsciiDigit) && (s.V.Length == 1 || s.V[0] != '0') && int.TryParse(s.V, out var i) => i,
            _ => -1,
        };
        if (ok < 0 || ok > (allowEnd ? length : length - 1)) throw new BuiltinException($"{Fn}: array index {seg} out of range (length {length})");
        return ok;
    }

    private static Value Get(Value doc, Value[] path)
    {
        var cur = doc;
        foreach (var seg in path)
        {
            cur = cur switch
            {
                ObjectValue o => o.Get(seg) ?? throw new BuiltinException($"{Fn}: path {Show(path)} does not exist"),
                ArrayValue arr => arr.Items[Index(seg, arr.Items.Length, allowEnd: false)],
                SetValue set => set.Contains(seg) ? seg : throw new BuiltinException($"{Fn}: path {Show(path)} does not exist"),
                _ => throw new BuiltinException($"{Fn}: path {Show(path)} does not exist"),
            };
        }
        return cur;
    }

    /// <summary>The document with <paramref name="value"/> added at path[i..] (an existing object member is replaced).</summary>
    private static Value Add(Value doc, Value[] path, int i, Value value)
    {
        if (i == path.Length) return value;
        var seg = path[i];
        var last = i == path.Length - 1;
        switch (doc)
        {
            case ObjectValue o:
                {
                    var child = o.Get(seg);
                    if (!last && child is null) throw new BuiltinException($"{Fn}: path {Show(path)}: missing objects are not created");
                    var map = new Dictionary<Value, Value>(o.Map) { [seg] = last ? value : Add(child!, path, i + 1, value) };
                    return new ObjectValue(map);
                }
            case ArrayValue arr:
                {
                    var items = arr.Items.ToList();
                    if (last) items.Insert(Index(seg, items.Count, allowEnd: true), value);
                    else
                    {
                        var at = Index(seg, items.Count, allowEnd: false);
                        items[at] = Add(items[at], path, i + 1, value);
                    }
                    return new ArrayValue(items.ToArray());
                }
            case SetValue set:
                {
                    // A set member is its own key: adding "d" at "s/d" adds "d"; the value must be the key.
                    if (last)
                    {
                        if (!seg.Equals(value)) throw new BuiltinException($"{Fn}: set member {seg} cannot hold the value {value}");
                        return new SetValue(set.Items.Append(value));
                    }
                    if (!set.Contains(seg)) throw new BuiltinException($"{Fn}: path {Show(path)} does not exist");
                    return new SetValue(set.Items.Where(m => !m.Equals(seg)).Append(Add(seg, path, i + 1, value)));
                }
            default:
                throw new BuiltinException($"{Fn}: path {Show(path)}: cannot add into a {Value.TypeName(doc)}");
        }
    }

    private static Value Remove(Value doc, Value[] path, int i)
    {
        if (path.Length == 0) throw new BuiltinException($"{Fn}: cannot remove the whole document");
        var seg = path[i];
        var last = i == path.Length - 1;
        switch (doc)
        {
            case ObjectValue o:
                {
                    var child = o.Get(seg) ?? throw new BuiltinException($"{Fn}: path {Show(path)} does not exist");
                    var map = new Dictionary<Value, Value>(o.Map);
                    if (last) map.Remove(seg);
                    else map[seg] = Remove(child, path, i + 1);
                    return new ObjectValue(map);
                }
            case ArrayValue arr:
                {
                    var items = arr.Items.ToList();
                    var at = Index(seg, items.Count, allowEnd: false);
                    if (last) items.RemoveAt(at);
                    else items[at] = Remove(items[at], path, i + 1);
                    return new ArrayValue(items.ToArray());
                }
            case SetValue set when set.Contains(seg):
                {
                    var rest = set.Items.Where(m => !m.Equals(seg));
                    return new SetValue(last ? rest : rest.Append(Remove(seg, path, i + 1)));
                }
            default:
                throw new BuiltinException($"{Fn}: path {Show(path)} does not exist");
        }
    }
}
