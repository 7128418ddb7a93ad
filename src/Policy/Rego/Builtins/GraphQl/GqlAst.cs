namespace Sandbox.Policy.Rego.GraphQl;

/// <summary>
/// GraphQL nodes to Rego values and back, as OPA exposes them: gqlparser's field names, with positions, nulls and
/// empty lists and objects pruned away (OPA's pruneIrrelevantGraphQLASTNodes).
/// </summary>
internal static class GqlAst
{
    public static Value ToValue(GqlNode node) => Prune(node) ?? Value.EmptyObject;

    private static Value? Prune(object? v) => v switch
    {
        null => null,
        string s => new StringValue(s),
        bool b => Value.Bool(b),
        int i => new NumberValue(i),
        GqlNode n => Object(n),
        List<GqlNode> list => Array(list.Select(Prune)),
        List<string> names => Array(names.Select(s => (Value?)new StringValue(s))),
        _ => null,
    };

    private static ObjectValue? Object(GqlNode n)
    {
        var map = new Dictionary<Value, Value>();
        foreach (var (k, v) in n.Fields)
            if (Prune(v) is { } pruned) map[new StringValue(k)] = pruned;
        return map.Count == 0 ? null : new ObjectValue(map);
    }

    private static ArrayValue? Array(IEnumerable<Value?> items)
    {
        var arr = items.Where(i => i is not null).Select(i => i!).ToArray();
        return arr.Length == 0 ? null : new ArrayValue(arr);
    }

    /// <summary>An AST object a policy passes in (from parse_query or parse_schema, or written by hand).</summary>
    public static GqlNode FromValue(ObjectValue obj)
    {
        var node = new GqlNode();
        foreach (var (k, v) in obj.Map)
        {
            if (k is not StringValue key) continue;
            node[key.V] = v switch
            {
                StringValue s => s.V,
                BoolValue b => b.V,
                NumberValue n when n.TryGetInt(out var i) && i is >= int.MinValue and <= int.MaxValue => (int)i,
                ObjectValue o => FromValue(o),
                ArrayValue a when a.Items.All(i => i is StringValue) && a.Items.Length > 0 =>
                    a.Items.Select(i => ((StringValue)i).V).ToList(),
                ArrayValue a => a.Items.OfType<ObjectValue>().Select(FromValue).ToList(),
                _ => null,
            };
        }
        return node;
    }

}
