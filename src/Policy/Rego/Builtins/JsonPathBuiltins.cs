namespace Sandbox.Policy.Rego;

/// <summary>
/// json.filter and json.remove: keep or drop the given paths of an object. A path is a "/"-separated string
/// ("a/b/0"; a leading "/" is ignored, "~1" is "/" and "~0" is "~" as in JSON pointers) or an array of keys.
/// Array elements are addressed by index (a number or a numeric string), set elements by value.
/// </summary>
internal static class JsonPathBuiltins
{
    public static void Register(BuiltinTable t)
    {
        t.Register("json.filter", 2, (a, _) =>
        {
            var o = BuiltinTable.Obj(a, 0, "json.filter");
            var trie = Trie(a, "json.filter");
            return trie.Leaf ? o : Filter(o, trie);
        });
        t.Register("json.remove", 2, (a, _) =>
        {
            var o = BuiltinTable.Obj(a, 0, "json.remove");
            var trie = Trie(a, "json.remove");
            return trie.Leaf ? Value.EmptyObject : Remove(o, trie);
        });
    }

    /// <summary>The paths as a tree of keys; a node that ends a path is a leaf (its whole value is meant).</summary>
    private sealed class Node
    {
        public Dictionary<Value, Node> Children { get; } = [];
        public bool Leaf { get; set; }
    }

    private static Node Trie(Value[] a, string fn)
    {
        var root = new Node();
        foreach (var p in BuiltinTable.Elems(a, 1, fn))
        {
            Value[] keys = p switch
            {
                StringValue s when s.V.Length == 0 => [],
                StringValue s => s.V.TrimStart('/').Split('/')
                    .Select(k => (Value)Value.String(k.Replace("~1", "/", StringComparison.Ordinal).Replace("~0", "~", StringComparison.Ordinal))).ToArray(),
                ArrayValue arr => arr.Items,
                _ => throw new BuiltinTypeException($"{fn}: operand 2 must be one of {{set, array}} containing string paths or array of path segments but got {Value.TypeName(p)}"),
            };
            var node = root;
            foreach (var k in keys)
            {
                if (node.Leaf) break;
                if (!node.Children.TryGetValue(k, out var next)) node.Children[k] = next = new Node();
                node = next;
            }
            node.Leaf = true;
            node.Children.Clear();
        }
        return root;
    }

    private static Node? Child(Node node, Value key, Value? index = null)
    {
        if (node.Children.TryGetValue(key, out var n)) return n;
        // An array index also matches its decimal string ("a/0").
        if (index is not null && node.Children.TryGetValue(index, out n)) return n;
        return null;
    }

    private static Value Filter(Value v, Node node)
    {
        switch (v)
        {
            case ObjectValue o:
                {
                    var map = new Dictionary<Value, Value>();
                    foreach (var (k, child) in o.Map)
                        if (Child(node, k) is { } n) map[k] = n.Leaf ? child : Filter(child, n);
                    return new ObjectValue(map);
                }
            case ArrayValue arr:
                {
                    var items = new List<Value>();
                    for (var i = 0; i < arr.Items.Length; i++)
                        if (Child(node, Value.Number(i), Value.String(i.ToString(System.Globalization.CultureInfo.InvariantCulture))) is { } n)
                            items.Add(n.Leaf ? arr.Items[i] : Filter(arr.Items[i], n));
                    return new ArrayValue(items.ToArray());
                }
            case SetValue set:
                return new SetValue(set.Items.Where(e => Child(node, e) is not null).Select(e => Child(node, e)!.Leaf ? e : Filter(e, Child(node, e)!)).ToHashSet(), true);
            default:
                return v;
        }
    }

    private static Value Remove(Value v, Node node)
    {
        switch (v)
        {
            case ObjectValue o:
                {
                    var map = new Dictionary<Value, Value>();
                    foreach (var (k, child) in o.Map)
                    {
                        var n = Child(node, k);
                        if (n is { Leaf: true }) continue;
                        map[k] = n is null ? child : Remove(child, n);
                    }
                    return new ObjectValue(map);
                }
            case ArrayValue arr:
                {
                    var items = new List<Value>();
                    for (var i = 0; i < arr.Items.Length; i++)
                    {
                        var n = Child(node, Value.Number(i), Value.String(i.ToString(System.Globalization.CultureInfo.InvariantCulture)));
                        if (n is { Leaf: true }) continue;
                        items.Add(n is null ? arr.Items[i] : Remove(arr.Items[i], n));
                    }
                    return new ArrayValue(items.ToArray());
                }
            case SetValue set:
                return new SetValue(set.Items.Where(e => Child(node, e) is not { Leaf: true }).ToHashSet(), true);
            default:
                return v;
        }
    }
}
