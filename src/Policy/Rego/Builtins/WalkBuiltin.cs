namespace Sandbox.Policy.Rego;

/// <summary>
/// walk(x, [path, value]): every document inside x with its path, x itself first, then children in order (object
/// keys and set members sorted; a set member's path key is the member itself). The compiler turns the relation
/// into <c>[path, value] = walk(x)[_]</c>, so this builtin returns the pairs as one array.
/// </summary>
internal static class WalkBuiltin
{
    /// <summary>More nodes than this is an error rather than an unbounded allocation.</summary>
    public const int MaxNodes = 1_000_000;

    public static void Register(BuiltinTable t) => t.Register("walk", 1, (a, _) =>
    {
        var pairs = new List<Value>();
        Walk(a[0], new List<Value>(), pairs);
        return new ArrayValue(pairs.ToArray());
    });

    private static void Walk(Value v, List<Value> path, List<Value> pairs)
    {
        if (pairs.Count >= MaxNodes) throw new BuiltinException($"walk: more than {MaxNodes} nodes");
        pairs.Add(new ArrayValue([new ArrayValue(path.ToArray()), v]));
        switch (v)
        {
            case ArrayValue arr:
                for (var i = 0; i < arr.Items.Length; i++) Child(Value.Number(i), arr.Items[i], path, pairs);
                break;
            case ObjectValue obj:
                foreach (var k in obj.SortedKeys) Child(k, obj.Get(k)!, path, pairs);
                break;
            case SetValue set:
                foreach (var m in set.Sorted) Child(m, m, path, pairs);
                break;
        }
    }

    private static void Child(Value key, Value v, List<Value> path, List<Value> pairs)
    {
        path.Add(key);
        Walk(v, path, pairs);
        path.RemoveAt(path.Count - 1);
    }
}
