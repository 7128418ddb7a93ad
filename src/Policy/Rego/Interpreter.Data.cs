namespace Sandbox.Policy.Rego;

internal sealed partial class Interpreter
{
    // ---- input and data references ---------------------------------------------------------

    private bool EvalRoot(Value?[] f, RootTerm root, Term[] path, Func<Value, bool> k)
    {
        if (root.IsInput)
        {
            var input = _ctx.Input;
            return input is null || WalkValue(f, input, path, 0, k);
        }
        if (_ctx.DataOverrides is null)
        {
            if (root.RuleSet is { } set)
            {
                var v = EvalRuleSet(set, root.Loc);
                if (v is null) return true;
                foreach (var s in root.Rest)
                {
                    v = Lookup(v, new StringValue(s));
                    if (v is null) return true;
                }
                return WalkValue(f, v, path, 0, k);
            }
            if (root.BaseOnly)
            {
                Value? v = _prog.BaseData;
                foreach (var s in root.DataPath)
                {
                    v = LookupData(v, s);
                    if (v is null) return true;
                }
                return WalkValue(f, v, path, 0, k);
            }
        }
        return WalkNode(f, _prog.Root, _prog.BaseData, new List<string>(), root.DataPath, 0, path, 0, k);
    }

    private bool WalkNode(Value?[] f, DataNode? node, Value? baseVal, List<string> cur, string[] prefix, int pi, Term[] path, int ti, Func<Value, bool> k)
    {
        if (FindOverride(cur) is { } ov) return WalkRest(f, ov, prefix, pi, path, ti, k);
        if (node?.Rules is not null)
        {
            var v = NodeRulesValue(node, cur);
            return v is null || WalkRest(f, v, prefix, pi, path, ti, k, rules: true);
        }
        if (pi == prefix.Length && ti == path.Length)
        {
            var m = Materialize(node, baseVal, cur);
            return m is null || k(m);
        }
        if (pi < prefix.Length) return Descend(f, node, baseVal, cur, prefix[pi], prefix, pi + 1, path, ti, k);
        var p = path[ti];
        if (p is VarTerm v0 && f[v0.Slot] is null)
        {
            var keys = new SortedSet<string>(StringComparer.Ordinal);
            if (node is not null) keys.UnionWith(node.Children.Keys);
            if (baseVal is ObjectValue bo)
                foreach (var key in bo.Map.Keys)
                    if (key is StringValue ks) keys.Add(ks.V);
            foreach (var key in keys)
            {
                Step();
                f[v0.Slot] = new StringValue(key);
                try
                {
                    if (!Descend(f, node, baseVal, cur, key, prefix, pi, path, ti + 1, k)) return false;
                }
                finally
                {
                    f[v0.Slot] = null;
                }
            }
            return true;
        }
        // A composite pattern never matches a data node's string keys; below the rules it walks the base value.
        if (p is ArrayTerm or ObjectTerm && HasUnboundPattern(f, p))
            return node is not null || baseVal is null || WalkValue(f, baseVal, path, ti, k);
        return EvalTerm(f, p, key =>
        {
            if (key is StringValue ks) return Descend(f, node, baseVal, cur, ks.V, prefix, pi, path, ti + 1, k);
            var next = Lookup(baseVal, key);
            return next is null || WalkValue(f, next, path, ti + 1, k);
        });
    }

    private bool Descend(Value?[] f, DataNode? node, Value? baseVal, List<string> cur, string key, string[] prefix, int pi, Term[] path, int ti, Func<Value, bool> k)
    {
        DataNode? child = null;
        node?.Children.TryGetValue(key, out child);
        var childBase = LookupData(baseVal, key);
        cur.Add(key);
        try
        {
            if (child is null && childBase is null && !HasOverrideUnder(cur)) return true;
            if (child is null && childBase is not null && _ctx.DataOverrides is null) return WalkRest(f, childBase, prefix, pi, path, ti, k);
            return WalkNode(f, child, childBase, cur, prefix, pi, path, ti, k);
        }
        finally
        {
            cur.RemoveAt(cur.Count - 1);
        }
    }

    private bool WalkRest(Value?[] f, Value v, string[] prefix, int pi, Term[] path, int ti, Func<Value, bool> k, bool rules = false)
    {
        for (var i = pi; i < prefix.Length; i++)
        {
            var next = rules ? Lookup(v, new StringValue(prefix[i])) : LookupData(v, prefix[i]);
            if (next is null) return true;
            v = next;
        }
        return WalkValue(f, v, path, ti, k);
    }

    private Value? FindOverride(List<string> cur)
    {
        if (_ctx.DataOverrides is null) return null;
        foreach (var (p, v) in _ctx.DataOverrides)
            if (p.AsSpan().SequenceEqual(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(cur))) return v;
        return null;
    }

    private bool HasOverrideUnder(List<string> cur)
    {
        if (_ctx.DataOverrides is null) return false;
        foreach (var (p, _) in _ctx.DataOverrides)
            if (p.Length >= cur.Count && p.AsSpan(0, cur.Count).SequenceEqual(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(cur))) return true;
        return false;
    }

    /// <summary>Builds the whole document at a package node: base data plus every rule's value (functions skipped).</summary>
    private Value? Materialize(DataNode? node, Value? baseVal, List<string> cur)
    {
        if (node is null && (baseVal is not ObjectValue || !HasOverrideUnder(cur))) return baseVal;
        var map = baseVal is ObjectValue bo ? new Dictionary<Value, Value>(bo.Map) : new Dictionary<Value, Value>();
        if (node is not null)
        {
            foreach (var (name, child) in node.Children)
            {
                Step();
                cur.Add(name);
                try
                {
                    Value? v;
                    if (FindOverride(cur) is { } ov) v = ov;
                    else if (child.Rules is { Kind: RuleKind.Function }) continue;
                    else if (child.Rules is not null) v = NodeRulesValue(child, cur);
                    else v = Materialize(child, map.GetValueOrDefault(new StringValue(name)), cur);
                    if (v is not null) map[new StringValue(name)] = v;
                }
                finally
                {
                    cur.RemoveAt(cur.Count - 1);
                }
            }
        }
        if (_ctx.DataOverrides is not null)
        {
            foreach (var (p, v) in _ctx.DataOverrides)
            {
                if (p.Length <= cur.Count || !p.AsSpan(0, cur.Count).SequenceEqual(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(cur))) continue;
                var key = new StringValue(p[cur.Count]);
                map[key] = Patch(map.GetValueOrDefault(key), p, cur.Count + 1, v);
            }
        }
        if (baseVal is null && node is null && map.Count == 0) return null;
        return new ObjectValue(map);
    }

    /// <summary>
    /// The value of a rule set's node: the rule set's value, merged with the rules defined below it when an object
    /// rule set shares its place with them (<c>p[k].r := v</c> beside <c>p.q.r := 1</c>). Rules' paths merge;
    /// a leaf two rules define differently, or a path into another rule's value, is a conflict (as in OPA).
    /// </summary>
    private Value? NodeRulesValue(DataNode node, List<string> cur)
    {
        var set = node.Rules!;
        if (node.Children.Count == 0 || set.Kind != RuleKind.PartialObject) return EvalRuleSet(set, set.Rules.FirstOrDefault()?.Loc ?? set.Default!.Loc);
        var root = new NestedObject();
        AddNodeLeaves(node, root, []);
        return root.ToValue();
    }

    private void AddNodeLeaves(DataNode node, NestedObject root, Value[] prefix)
    {
        Step();
        if (node.Rules is { } set)
        {
            var loc = set.Rules.FirstOrDefault()?.Loc ?? set.Default?.Loc;
            switch (set.Kind)
            {
                case RuleKind.Function:
                    break;
                case RuleKind.PartialObject:
                    AddRuleLeaves(set, root, prefix);
                    break;
                case RuleKind.PartialSet:
                    if (EvalRuleSet(set, loc!) is SetValue items && !root.TryAddSet(prefix, items)) throw Conflict(set, prefix, loc);
                    break;
                default:
                    if (EvalRuleSet(set, loc!) is { } v && !root.TryAdd(prefix, v, false)) throw Conflict(set, prefix, loc);
                    break;
            }
        }
        else if (prefix.Length > 0 && !root.TryLevel(prefix))
            throw new RegoException(RegoErrorCodes.ConflictError, $"object keys must be unique (data.{string.Join('.', node.Path)} is also a rule's value)");
        foreach (var (name, child) in node.Children)
            AddNodeLeaves(child, root, [.. prefix, new StringValue(name)]);
    }

    private bool WalkValue(Value?[] f, Value cur, Term[] path, int i, Func<Value, bool> k)
    {
        if (i == path.Length) return k(cur);
        var p = path[i];
        if (p is VarTerm v && f[v.Slot] is null)
        {
            return Iterate(cur, (key, val) =>
            {
                f[v.Slot] = key;
                try
                {
                    return WalkValue(f, val, path, i + 1, k);
                }
                finally
                {
                    f[v.Slot] = null;
                }
            });
        }
        if (p is ScalarTerm s)
        {
            var next = Lookup(cur, s.V);
            return next is null || WalkValue(f, next, path, i + 1, k);
        }
        // A composite key with unbound variables is a pattern: each key of the collection that unifies with it.
        if (p is ArrayTerm or ObjectTerm && HasUnboundPattern(f, p))
            return Iterate(cur, (key, val) => Unify(f, p, key, () => WalkValue(f, val, path, i + 1, k)));
        return EvalTerm(f, p, key =>
        {
            var next = Lookup(cur, key);
            return next is null || WalkValue(f, next, path, i + 1, k);
        });
    }

    /// <summary>A step of a data path into base data: an object's member, or an array's element by its decimal index (as OPA's storage reads).</summary>
    private static Value? LookupData(Value? cur, string key) => cur switch
    {
        ObjectValue o => o.Get(new StringValue(key)),
        ArrayValue a => key.Length is > 0 and < 10 && key.All(char.IsAsciiDigit) && (key.Length == 1 || key[0] != '0') && int.Parse(key) is var i && i < a.Items.Length ? a.Items[i] : null,
        _ => null,
    };

    private static Value? Lookup(Value? cur, Value key) => cur switch
    {
        ObjectValue o => o.Get(key),
        ArrayValue a => key is NumberValue n && n.TryGetInt(out var idx) && idx >= 0 && idx < a.Items.Length ? a.Items[idx] : null,
        SetValue s => s.Contains(key) ? key : null,
        _ => null,
    };
}
