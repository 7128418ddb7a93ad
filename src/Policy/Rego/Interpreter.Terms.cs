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

    private bool EvalComprehension(Value?[] f, ComprehensionTerm c, Func<Value, bool> k)
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
        return k(result);
    }

    private bool EvalCall(Value?[] f, CallTerm c, Func<Value, bool> k)
    {
        return EvalList(f, c.Args, 0, new Value[c.Args.Length], args =>
        {
            if (c.Function is { } fn) return EvalFunction(fn, args, c.Loc, k);
            var b = c.Builtin ?? throw new RegoException(RegoErrorCodes.InternalError, $"unresolved function {c.DisplayName}", c.Loc);
            Value? r;
            try
            {
                r = b.Fn(args, _builtinCtx);
            }
            catch (BuiltinException ex)
            {
                if (_options.StrictBuiltinErrors) throw new RegoException(RegoErrorCodes.BuiltinError, ex.Message, c.Loc);
                r = null;
            }
            return r is null || k(r);
        });
    }

    private bool EvalFunction(RuleSet set, Value[] args, RegoLocation callLoc, Func<Value, bool> k)
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
        return result is null || k(result);
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
                    throw new RegoException(RegoErrorCodes.ConflictError, $"complete rules must not produce multiple outputs ({rule.Name})", rule.Loc);
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
}
