namespace Sandbox.Policy.Rego;

/// <summary>The immutable compiled program shared by all evaluations.</summary>
internal sealed class PolicyProgram(DataNode root, Value baseData, int ruleSetCount)
{
    public DataNode Root { get; } = root;
    public Value BaseData { get; } = baseData;
    public int RuleSetCount { get; } = ruleSetCount;
}

internal sealed partial class Interpreter
{
    public bool EvalTerm(Value?[] f, Term t, Func<Value, bool> k)
    {
        if (IsDirect(f, t))
        {
            var v = EvalDirect(f, t);
            return v is null || k(v);
        }
        return EvalTermSlow(f, t, k);
    }

    // ---- direct evaluation ------------------------------------------------------------------
    // Most terms have at most one value (no unbound variable to enumerate): they are evaluated
    // straight to a value (null = undefined) with no continuation closures. The results, the
    // evaluation order, the steps counted and the errors raised are those of the continuation path.

    /// <summary>Whether <paramref name="t"/> has at most one value and can be evaluated without enumeration. No side effects.</summary>
    private bool IsDirect(Value?[] f, Term t)
    {
        switch (t)
        {
            case ScalarTerm:
            case ComprehensionTerm:
                return true;
            case VarTerm v:
                return f[v.Slot] is not null;
            case RootTerm root:
                return root.IsInput || (_ctx.DataOverrides is null && (root.RuleSet is not null || root.BaseOnly));
            case RefTerm r:
                return IsDirect(f, r.Head) && AllDirect(f, r.Path);
            case CallTerm c:
                return AllDirect(f, c.Args);
            case ArrayTerm a:
                return a.Const is not null || AllDirect(f, a.Items);
            case SetTerm st:
                return st.Const is not null || AllDirect(f, st.Items);
            case ObjectTerm o:
                if (o.Const is not null) return true;
                foreach (var (key, value) in o.Items)
                    if (!IsDirect(f, key) || !IsDirect(f, value)) return false;
                return true;
            default:
                return false;
        }
    }

    private bool AllDirect(Value?[] f, Term[] terms)
    {
        foreach (var t in terms)
            if (!IsDirect(f, t)) return false;
        return true;
    }

    /// <summary>The value of a term for which <see cref="IsDirect"/> holds; null when undefined.</summary>
    private Value? EvalDirect(Value?[] f, Term t)
    {
        switch (t)
        {
            case ScalarTerm s:
                return s.V;
            case VarTerm v:
                return f[v.Slot];
            case RootTerm root:
                return RootValue(root);
            case RefTerm r:
                {
                    var cur = r.Head is RootTerm rootHead ? RootValue(rootHead) : EvalDirect(f, r.Head);
                    foreach (var p in r.Path)
                    {
                        if (cur is null) return null;
                        var key = p is ScalarTerm ps ? ps.V : EvalDirect(f, p);
                        if (key is null) return null;
                        cur = Lookup(cur, key);
                    }
                    return cur;
                }
            case CallTerm c:
                {
                    var args = new Value[c.Args.Length];
                    for (var i = 0; i < args.Length; i++)
                    {
                        var a = EvalDirect(f, c.Args[i]);
                        if (a is null) return null;
                        args[i] = a;
                    }
                    return Invoke(c, args);
                }
            case ArrayTerm a:
                {
                    if (a.Const is not null) return a.Const;
                    var items = DirectItems(f, a.Items);
                    return items is null ? null : new ArrayValue(items);
                }
            case SetTerm st:
                {
                    if (st.Const is not null) return st.Const;
                    var items = DirectItems(f, st.Items);
                    return items is null ? null : new SetValue(items);
                }
            case ObjectTerm o:
                {
                    if (o.Const is not null) return o.Const;
                    var map = new Dictionary<Value, Value>(o.Items.Length);
                    foreach (var (kt, vt) in o.Items)
                    {
                        var key = EvalDirect(f, kt);
                        if (key is null) return null;
                        var val = EvalDirect(f, vt);
                        if (val is null) return null;
                        map[key] = val;
                    }
                    return new ObjectValue(map);
                }
            case ComprehensionTerm c:
                return ComputeComprehension(f, c);
            default:
                throw new RegoException(RegoErrorCodes.InternalError, $"unsupported term {t.GetType().Name}", t.Loc);
        }
    }

    private Value[]? DirectItems(Value?[] f, Term[] terms)
    {
        var items = new Value[terms.Length];
        for (var i = 0; i < terms.Length; i++)
        {
            var v = EvalDirect(f, terms[i]);
            if (v is null) return null;
            items[i] = v;
        }
        return items;
    }

    /// <summary>The value of <c>input</c> or of a data reference resolved at compile time (as <see cref="EvalRoot"/> with no path).</summary>
    private Value? RootValue(RootTerm root)
    {
        if (root.IsInput) return _ctx.Input;
        if (root.RuleSet is { } set)
        {
            var v = EvalRuleSet(set, root.Loc);
            foreach (var s in root.Rest)
            {
                if (v is null) return null;
                v = Lookup(v, new StringValue(s));
            }
            return v;
        }
        Value? b = _prog.BaseData;
        foreach (var s in root.DataPath)
        {
            if (b is null) return null;
            b = LookupData(b, s);
        }
        return b;
    }

    private bool EvalTermSlow(Value?[] f, Term t, Func<Value, bool> k)
    {
        switch (t)
        {
            case ScalarTerm s:
                return k(s.V);
            case VarTerm v:
                return k(f[v.Slot] ?? throw new RegoException(RegoErrorCodes.UnsafeVarError, $"var {v.Name} is unsafe", v.Loc));
            case RootTerm root:
                return EvalRoot(f, root, [], k);
            case RefTerm r:
                if (r.Head is RootTerm rootHead) return EvalRoot(f, rootHead, r.Path, k);
                return EvalTerm(f, r.Head, h => WalkValue(f, h, r.Path, 0, k));
            case CallTerm c:
                return EvalCall(f, c, k);
            case ArrayTerm a:
                return a.Const is not null ? k(a.Const) : EvalList(f, a.Items, 0, new Value[a.Items.Length], items => k(new ArrayValue(items)));
            case SetTerm st:
                return st.Const is not null ? k(st.Const) : EvalList(f, st.Items, 0, new Value[st.Items.Length], items => k(new SetValue(items)));
            case ObjectTerm o:
                if (o.Const is not null) return k(o.Const);
                return EvalObject(f, o.Items, 0, new Dictionary<Value, Value>(o.Items.Length), k);
            case ComprehensionTerm c:
                return EvalComprehension(f, c, k);
            default:
                throw new RegoException(RegoErrorCodes.InternalError, $"unsupported term {t.GetType().Name}", t.Loc);
        }
    }

    private bool EvalList(Value?[] f, Term[] items, int i, Value[] acc, Func<Value[], bool> k)
    {
        if (i == items.Length) return k((Value[])acc.Clone());
        return EvalTerm(f, items[i], v =>
        {
            acc[i] = v;
            return EvalList(f, items, i + 1, acc, k);
        });
    }

    private bool EvalObject(Value?[] f, (Term Key, Term Value)[] items, int i, Dictionary<Value, Value> acc, Func<Value, bool> k)
    {
        if (i == items.Length) return k(new ObjectValue(new Dictionary<Value, Value>(acc)));
        return EvalTerm(f, items[i].Key, key => EvalTerm(f, items[i].Value, val =>
        {
            var had = acc.TryGetValue(key, out var prev);
            acc[key] = val;
            try
            {
                return EvalObject(f, items, i + 1, acc, k);
            }
            finally
            {
                if (had) acc[key] = prev!;
                else acc.Remove(key);
            }
        }));
    }

    private bool EvalComprehension(Value?[] f, ComprehensionTerm c, Func<Value, bool> k) => k(ComputeComprehension(f, c));

    private Value ComputeComprehension(Value?[] f, ComprehensionTerm c)
    {
        Enter(c.Loc);
        Value result;
        try
        {
            switch (c.Kind)
            {
                case ComprehensionKind.Array:
                    {
                        var list = new List<Value>();
                        EvalBody(f, c.Body, 0, () => EvalTerm(f, c.Head, v =>
                        {
                            Step();
                            list.Add(v);
                            return true;
                        }));
                        result = new ArrayValue(list.ToArray());
                        break;
                    }
                case ComprehensionKind.Set:
                    {
                        var set = new HashSet<Value>();
                        EvalBody(f, c.Body, 0, () => EvalTerm(f, c.Head, v =>
                        {
                            Step();
                            set.Add(v);
                            return true;
                        }));
                        result = new SetValue(set, true);
                        break;
                    }
                default:
                    {
                        var map = new Dictionary<Value, Value>();
                        EvalBody(f, c.Body, 0, () => EvalTerm(f, c.Head, key => EvalTerm(f, c.ValueTerm!, val =>
                        {
                            Step();
                            if (map.TryGetValue(key, out var prev) && !prev.Equals(val))
                                throw new RegoException(RegoErrorCodes.ConflictError, $"object keys must be unique: key {key} has values {prev} and {val}", c.Loc);
                            map[key] = val;
                            return true;
                        })));
                        result = new ObjectValue(map);
                        break;
                    }
            }
        }
        finally
        {
            Leave();
        }
        return result;
    }

    private bool EvalCall(Value?[] f, CallTerm c, Func<Value, bool> k)
    {
        return EvalList(f, c.Args, 0, new Value[c.Args.Length], args =>
        {
            var r = Invoke(c, args);
            return r is null || k(r);
        });
    }

    /// <summary>Calls a user function or builtin with evaluated arguments; null when undefined.</summary>
    private Value? Invoke(CallTerm c, Value[] args)
    {
        if (_ctx.Mocks is { } mocks && mocks.TryGetValue(c.Function?.PathText ?? c.Builtin?.Name ?? "", out var mock)) return InvokeMock(mock, c, args);
        if (c.Function is { } fn) return CallFunction(fn, args, c.Loc);
        var b = c.Builtin ?? throw new RegoException(RegoErrorCodes.InternalError, $"unresolved function {c.DisplayName}", c.Loc);
        return CallBuiltin(b, args, c.Loc);
    }

    /// <summary>
    /// A call replaced by <c>with</c>: a value is the result; a replacement function runs without the replacements
    /// in force (as in OPA, a mock calling the function it replaces reaches the original, never another mock).
    /// </summary>
    private Value? InvokeMock(object mock, CallTerm c, Value[] args)
    {
        switch (mock)
        {
            case Value v:
                return v;
            case Builtin b:
                return CallBuiltin(b, args, c.Loc);
            default:
                var saved = _ctx;
                _ctx = new Ctx { Input = saved.Input, DataOverrides = saved.DataOverrides, Cache = new object?[_prog.RuleSetCount] };
                try
                {
                    return CallFunction((RuleSet)mock, args, c.Loc);
                }
                finally
                {
                    _ctx = saved;
                }
        }
    }

    private Value? CallBuiltin(Builtin b, Value[] args, RegoLocation loc)
    {
        try
        {
            return b.Fn(args, _builtinCtx);
        }
        catch (BuiltinException ex)
        {
            if (_options.StrictBuiltinErrors)
                throw new RegoException(ex is BuiltinTypeException ? RegoErrorCodes.EvalTypeError : RegoErrorCodes.BuiltinError, ex.Message, loc);
            return null;
        }
    }

    private Value? CallFunction(RuleSet set, Value[] args, RegoLocation callLoc)
    {
        Enter(callLoc);
        Value? result = null;
        try
        {
            foreach (var def in set.Rules)
            {
                var v = EvalDefinition(def, args);
                if (v is null) continue;
                if (result is not null && !result.Equals(v))
                    throw new RegoException(RegoErrorCodes.ConflictError, $"functions must not produce multiple outputs for same inputs ({set.PathText})", def.Loc);
                result = v;
            }
            if (result is null && set.Default is { } d) result = EvalDefinition(d, args);
        }
        finally
        {
            Leave();
        }
        return result;
    }

    /// <summary>Evaluates one definition (with its else chain); null when undefined.</summary>
    private Value? EvalDefinition(Rule def, Value[]? args)
    {
        for (var d = def; d is not null; d = d.Else)
        {
            var frame = new Value?[d.SlotCount];
            Value? output = null;
            var rule = d;
            bool Body() => EvalBody(frame, rule.Body, 0, () => EvalTerm(frame, rule.Value ?? TrueTerm, v =>
            {
                if (output is not null && !output.Equals(v))
                    throw new RegoException(RegoErrorCodes.ConflictError, rule.Kind == RuleKind.Function
                        ? $"functions must not produce multiple outputs for same inputs ({rule.Name})"
                        : $"complete rules must not produce multiple outputs ({rule.Name})", rule.Loc);
                output = v;
                return !rule.ConstantHead;
            }));
            if (args is not null && d.Args is not null) UnifyItems(frame, d.Args, args, 0, Body);
            else Body();
            if (output is not null) return output;
        }
        return null;
    }

    /// <summary>The value of a non-function rule set, cached per evaluation context.</summary>
    private Value? EvalRuleSet(RuleSet set, RegoLocation loc)
    {
        var cached = _ctx.Cache[set.Index];
        if (cached == InProgress) throw new RegoException(RegoErrorCodes.RecursionError, $"rule {set.PathText} is recursive", loc);
        if (cached is not null) return cached == Undefined ? null : (Value)cached;
        if (set.Kind == RuleKind.Function) throw new RegoException(RegoErrorCodes.TypeError, $"function {set.PathText} referenced without arguments", loc);
        var ctx = _ctx;
        ctx.Cache[set.Index] = InProgress;
        Enter(loc);
        try
        {
            var v = ComputeRuleSet(set);
            ctx.Cache[set.Index] = v ?? Undefined;
            return v;
        }
        catch
        {
            ctx.Cache[set.Index] = null;
            throw;
        }
        finally
        {
            Leave();
        }
    }

    private Value? ComputeRuleSet(RuleSet set)
    {
        switch (set.Kind)
        {
            case RuleKind.Complete:
                {
                    Value? result = null;
                    foreach (var def in set.Rules)
                    {
                        var v = EvalDefinition(def, null);
                        if (v is null) continue;
                        if (result is not null && !result.Equals(v))
                            throw new RegoException(RegoErrorCodes.ConflictError, $"complete rules must not produce multiple outputs ({set.PathText})", def.Loc);
                        result = v;
                    }
                    if (result is null && set.Default is { } d) result = EvalDefinition(d, null);
                    return result;
                }
            case RuleKind.PartialSet:
                {
                    var items = new HashSet<Value>();
                    foreach (var def in set.Rules)
                    {
                        var frame = new Value?[def.SlotCount];
                        EvalBody(frame, def.Body, 0, () => EvalTerm(frame, def.Key!, v =>
                        {
                            Step();
                            items.Add(v);
                            return true;
                        }));
                    }
                    return new SetValue(items, true);
                }
            default:
                {
                    if (set.Rules.Any(r => r.KeyIsPath)) return ComputeNestedObject(set);
                    var map = new Dictionary<Value, Value>();
                    foreach (var def in set.Rules)
                    {
                        var frame = new Value?[def.SlotCount];
                        EvalBody(frame, def.Body, 0, () => EvalTerm(frame, def.Key!, key => EvalTerm(frame, def.Value ?? TrueTerm, val =>
                        {
                            Step();
                            if (map.TryGetValue(key, out var prev) && !prev.Equals(val))
                                throw new RegoException(RegoErrorCodes.ConflictError, $"object keys must be unique ({set.PathText}[{key}])", def.Loc);
                            map[key] = val;
                            return true;
                        })));
                    }
                    return new ObjectValue(map);
                }
        }
    }

    /// <summary>An object rule set with multi-key heads (<c>p[a][b] := v</c>, <c>p[a] contains v</c>): each solution sets one leaf of a nested object.</summary>
    private Value ComputeNestedObject(RuleSet set)
    {
        var root = new NestedObject();
        AddRuleLeaves(set, root, []);
        return root.ToValue();
    }

    private void AddRuleLeaves(RuleSet set, NestedObject root, Value[] prefix)
    {
        foreach (var def in set.Rules)
        {
            var frame = new Value?[def.SlotCount];
            EvalBody(frame, def.Body, 0, () => EvalTerm(frame, def.Key!, key => EvalTerm(frame, def.Value ?? TrueTerm, val =>
            {
                Step();
                Value[] keys = def.KeyIsPath ? [.. prefix, .. ((ArrayValue)key).Items] : [.. prefix, key];
                if (!root.TryAdd(keys, val, def.LeafIsSet)) throw Conflict(set, keys, def.Loc);
                return true;
            })));
        }
    }

    private static RegoException Conflict(RuleSet set, Value[] keys, RegoLocation? loc) =>
        new(RegoErrorCodes.ConflictError, $"object keys must be unique ({set.PathText}: two values at {string.Concat(keys.Select(x => "[" + x.ToJson() + "]"))})", loc);

    /// <summary>A nested object under construction: each entry is a leaf value, a leaf set being collected, or a deeper level.</summary>
    private sealed class NestedObject
    {
        private readonly Dictionary<Value, object> _map = new();

        /// <summary>
        /// Sets the leaf at <paramref name="keys"/> (or adds to the set there); false when it conflicts with a
        /// different leaf, or with a level (a rule's value is never merged into).
        /// </summary>
        public bool TryAdd(Value[] keys, Value val, bool toSet)
        {
            var cur = this;
            for (var i = 0; i < keys.Length - 1; i++)
            {
                if (!cur._map.TryGetValue(keys[i], out var next)) cur._map[keys[i]] = next = new NestedObject();
                if (next is not NestedObject level) return false;
                cur = level;
            }
            var last = keys[^1];
            cur._map.TryGetValue(last, out var prev);
            if (toSet)
            {
                if (prev is null) cur._map[last] = prev = new HashSet<Value>();
                if (prev is not HashSet<Value> items) return false;
                items.Add(val);
                return true;
            }
            if (prev is not null) return prev is Value pv && pv.Equals(val);
            cur._map[last] = val;
            return true;
        }

        /// <summary>Adds every element of <paramref name="set"/> to the set leaf at <paramref name="keys"/> (an empty set still creates it).</summary>
        public bool TryAddSet(Value[] keys, SetValue set)
        {
            if (set.Count == 0)
            {
                var cur = this;
                for (var i = 0; i < keys.Length - 1; i++)
                {
                    if (!cur._map.TryGetValue(keys[i], out var next)) cur._map[keys[i]] = next = new NestedObject();
                    if (next is not NestedObject level) return false;
                    cur = level;
                }
                if (!cur._map.TryGetValue(keys[^1], out var prev)) cur._map[keys[^1]] = new HashSet<Value>();
                else if (prev is not HashSet<Value>) return false;
                return true;
            }
            foreach (var v in set.Items)
                if (!TryAdd(keys, v, true)) return false;
            return true;
        }

        /// <summary>Makes sure a level exists at <paramref name="keys"/> (a package-like node with no value yet).</summary>
        public bool TryLevel(Value[] keys)
        {
            var cur = this;
            foreach (var key in keys)
            {
                if (!cur._map.TryGetValue(key, out var next)) cur._map[key] = next = new NestedObject();
                if (next is not NestedObject level) return false;
                cur = level;
            }
            return true;
        }

        public ObjectValue ToValue()
        {
            var map = new Dictionary<Value, Value>(_map.Count);
            foreach (var (k, v) in _map)
                map[k] = v switch
                {
                    NestedObject n => n.ToValue(),
                    HashSet<Value> items => new SetValue(items, true),
                    _ => (Value)v,
                };
            return new ObjectValue(map);
        }
    }
}
