using System.Diagnostics;
using System.Runtime.CompilerServices;

namespace Sandbox.Policy.Rego;

/// <summary>
/// Top-down evaluator with backtracking through continuations. Each continuation returns false to stop
/// the enumeration. One instance per evaluation (not thread-safe; the compiled program is shared and immutable).
/// </summary>
internal sealed partial class Interpreter
{
    private static readonly object Undefined = new();
    private static readonly object InProgress = new();
    private static readonly ScalarTerm TrueTerm = new(new RegoLocation("", 0, 0), Value.True);

    private sealed class Ctx
    {
        public Value? Input;
        public List<(string[] Path, Value Value)>? DataOverrides;
        /// <summary>Functions replaced by <c>with</c>: builtin name or function path → Value, Builtin or RuleSet.</summary>
        public Dictionary<string, object>? Mocks;
        public object?[] Cache = [];
    }

    private readonly PolicyProgram _prog;
    private readonly EvalOptions _options;
    private readonly BuiltinContext _builtinCtx;
    private readonly long _deadline;
    private Ctx _ctx;
    private long _steps;
    private int _depth;

    public Interpreter(PolicyProgram prog, Value? input, EvalOptions options)
    {
        _prog = prog;
        _options = options;
        _builtinCtx = new BuiltinContext(options);
        _ctx = new Ctx { Input = input, Cache = new object?[prog.RuleSetCount] };
        _deadline = options.Timeout is { } t ? Stopwatch.GetTimestamp() + (long)(t.TotalSeconds * Stopwatch.Frequency) : long.MaxValue;
    }

    public long Steps => _steps;

    private void Step()
    {
        if (++_steps > _options.MaxSteps)
            throw new RegoException(RegoErrorCodes.BudgetExceeded, $"evaluation exceeded the budget of {_options.MaxSteps} steps");
        if ((_steps & 1023) == 0)
        {
            if (Stopwatch.GetTimestamp() > _deadline) throw new RegoException(RegoErrorCodes.CancelError, $"evaluation exceeded the timeout of {_options.Timeout}");
            if (_options.CancellationToken.IsCancellationRequested) throw new RegoException(RegoErrorCodes.CancelError, "evaluation cancelled");
        }
    }

    private void Enter(RegoLocation loc)
    {
        if (++_depth > _options.MaxDepth || !RuntimeHelpers.TryEnsureSufficientExecutionStack())
            throw new RegoException(RegoErrorCodes.DepthExceeded, $"evaluation nested deeper than {_options.MaxDepth} levels", loc);
    }

    private void Leave() => _depth--;

    // ---- bodies and expressions ----------------------------------------------------------

    public bool EvalBody(Value?[] f, Expr[] body, int i, Func<bool> k)
    {
        if (i == body.Length) return k();
        if (!RuntimeHelpers.TryEnsureSufficientExecutionStack())
            throw new RegoException(RegoErrorCodes.DepthExceeded, "evaluation nested too deeply", body[i].Loc);
        // Expressions that neither enumerate nor bind (tests of single-valued terms) are evaluated in
        // this loop; binding and iterating ones recurse directly. Only the rest allocate a continuation.
        // The stack does not grow within the loop, so the check above covers it.
        while (true)
        {
            if (i == body.Length) return k();
            var e = body[i];
            Step();
            if (e.Withs.Length == 0)
            {
                switch (e)
                {
                    case TermExpr te when IsDirect(f, te.Term):
                        {
                            var v = EvalDirect(f, te.Term);
                            var holds = v is not null && v is not BoolValue { V: false };
                            if (holds == e.Negated) return true;
                            i++;
                            continue;
                        }
                    case AssignExpr { IsTemp: true } t when IsDirect(f, t.Right):
                        {
                            // A hoisted call: overwrite its slot and stay in this loop (no recursion, no restore).
                            var v = EvalDirect(f, t.Right);
                            if (v is null) return true;
                            f[((VarTerm)t.Left).Slot] = v;
                            i++;
                            continue;
                        }
                    case AssignExpr a when !e.Negated && a.Left is VarTerm && IsDirect(f, a.Right):
                        {
                            var v = EvalDirect(f, a.Right);
                            return v is null || BindAndContinue(f, (VarTerm)a.Left, v, body, i + 1, k);
                        }
                    case UnifyExpr u when !e.Negated && u.Left is VarTerm or ScalarTerm && !HasUnboundPattern(f, u.Right) && IsDirect(f, u.Right):
                        {
                            var v = EvalDirect(f, u.Right);
                            if (v is null) return true;
                            if (u.Left is VarTerm lv) return BindAndContinue(f, lv, v, body, i + 1, k);
                            if (!((ScalarTerm)u.Left).V.Equals(v)) return true;
                            i++;
                            continue;
                        }
                    case SomeInExpr si when !e.Negated && si.Value is VarTerm && si.Key is null or VarTerm && IsDirect(f, si.Collection):
                        {
                            var c = EvalDirect(f, si.Collection);
                            return c is null || IterateBody(f, si, c, body, i + 1, k);
                        }
                    case SomeDeclExpr when !e.Negated:
                        i++;
                        continue;
                }
            }
            return EvalExprUnstepped(f, e, () => EvalBody(f, body, i + 1, k));
        }
    }

    /// <summary>Unifies an unbound or bound variable with a value, then evaluates the rest of the body.</summary>
    private bool BindAndContinue(Value?[] f, VarTerm var, Value v, Expr[] body, int next, Func<bool> k)
    {
        var cur = f[var.Slot];
        if (cur is not null) return !cur.Equals(v) || EvalBody(f, body, next, k);
        f[var.Slot] = v;
        try
        {
            return EvalBody(f, body, next, k);
        }
        finally
        {
            f[var.Slot] = null;
        }
    }

    /// <summary><c>some k, v in coll</c> with variable patterns: as <see cref="Iterate"/> with <see cref="Unify"/>, without closures.</summary>
    private bool IterateBody(Value?[] f, SomeInExpr si, Value c, Expr[] body, int next, Func<bool> k)
    {
        var keyVar = (VarTerm?)si.Key;
        var valVar = (VarTerm)si.Value;
        switch (c)
        {
            case ArrayValue a:
                for (var j = 0; j < a.Items.Length; j++)
                {
                    Step();
                    if (!UnifyPairAndContinue(f, keyVar, keyVar is null ? null : new NumberValue(j), valVar, a.Items[j], body, next, k)) return false;
                }
                return true;
            case SetValue s:
                foreach (var v in s.Sorted)
                {
                    Step();
                    if (!UnifyPairAndContinue(f, keyVar, v, valVar, v, body, next, k)) return false;
                }
                return true;
            case ObjectValue o:
                foreach (var key in o.SortedKeys)
                {
                    Step();
                    if (!UnifyPairAndContinue(f, keyVar, key, valVar, o.Map[key], body, next, k)) return false;
                }
                return true;
            default:
                return true;
        }
    }

    private bool UnifyPairAndContinue(Value?[] f, VarTerm? keyVar, Value? key, VarTerm valVar, Value val, Expr[] body, int next, Func<bool> k)
    {
        var boundKey = false;
        if (keyVar is not null)
        {
            var cur = f[keyVar.Slot];
            if (cur is not null)
            {
                if (!cur.Equals(key)) return true;
            }
            else
            {
                f[keyVar.Slot] = key;
                boundKey = true;
            }
        }
        try
        {
            return BindAndContinue(f, valVar, val, body, next, k);
        }
        finally
        {
            if (boundKey) f[keyVar!.Slot] = null;
        }
    }

    public bool EvalExpr(Value?[] f, Expr e, Func<bool> k)
    {
        Step();
        return EvalExprUnstepped(f, e, k);
    }

    private bool EvalExprUnstepped(Value?[] f, Expr e, Func<bool> k) =>
        e.Withs.Length > 0 ? EvalWith(f, e, k) : EvalNegatable(f, e, k);

    private bool EvalNegatable(Value?[] f, Expr e, Func<bool> k)
    {
        if (!e.Negated) return EvalCore(f, e, k);
        var found = false;
        EvalCore(f, e, () =>
        {
            found = true;
            return false;
        });
        return found || k();
    }

    // Each case lives in its own method so that no closure is allocated for the cases that need none.
    private bool EvalCore(Value?[] f, Expr e, Func<bool> k)
    {
        switch (e)
        {
            case TermExpr t:
                return EvalTermExpr(f, t, k);
            case AssignExpr a:
                if (a.IsTemp) f[((VarTerm)a.Left).Slot] = null; // may hold a value from an earlier pass (see IsTemp)
                return EvalThenUnify(f, a.Right, a.Left, k);
            case UnifyExpr u:
                if (!HasUnboundPattern(f, u.Right)) return EvalThenUnify(f, u.Right, u.Left, k);
                if (!HasUnboundPattern(f, u.Left)) return EvalThenUnify(f, u.Left, u.Right, k);
                throw new RegoException(RegoErrorCodes.UnsafeVarError, "unification of two unbound patterns", u.Loc);
            case SomeDeclExpr:
                return k();
            case SomeInExpr si:
                return EvalSomeIn(f, si, k);
            case EveryExpr ev:
                return EvalEveryExpr(f, ev, k);
            default:
                throw new RegoException(RegoErrorCodes.InternalError, $"unsupported expression {e.GetType().Name}", e.Loc);
        }
    }

    private bool EvalTermExpr(Value?[] f, TermExpr t, Func<bool> k)
    {
        if (IsDirect(f, t.Term))
        {
            var v = EvalDirect(f, t.Term);
            return v is null || v is BoolValue { V: false } || k();
        }
        return EvalTermSlow(f, t.Term, v => v is BoolValue { V: false } || k());
    }

    private bool EvalThenUnify(Value?[] f, Term value, Term pattern, Func<bool> k)
    {
        if (IsDirect(f, value))
        {
            var v = EvalDirect(f, value);
            return v is null || Unify(f, pattern, v, k);
        }
        return EvalTermSlow(f, value, v => Unify(f, pattern, v, k));
    }

    private bool EvalSomeIn(Value?[] f, SomeInExpr si, Func<bool> k) =>
        EvalTerm(f, si.Collection, c => Iterate(c, (key, val) =>
            si.Key is null ? Unify(f, si.Value, val, k) : Unify(f, si.Key, key, () => Unify(f, si.Value, val, k))));

    // A domain that is not a collection (a number, a string, …) makes `every` undefined, as in OPA.
    private bool EvalEveryExpr(Value?[] f, EveryExpr ev, Func<bool> k) =>
        EvalTerm(f, ev.Collection, c => c is not (ArrayValue or SetValue or ObjectValue) || !EvalEvery(f, ev, c) || k());

    private bool EvalEvery(Value?[] f, EveryExpr ev, Value coll)
    {
        var all = true;
        Iterate(coll, (key, val) =>
        {
            var savedK = ev.Key is null ? null : f[ev.Key.Slot];
            var savedV = f[ev.Value.Slot];
            if (ev.Key is not null) f[ev.Key.Slot] = key;
            f[ev.Value.Slot] = val;
            var found = false;
            try
            {
                EvalBody(f, ev.Body, 0, () =>
                {
                    found = true;
                    return false;
                });
            }
            finally
            {
                if (ev.Key is not null) f[ev.Key.Slot] = savedK;
                f[ev.Value.Slot] = savedV;
            }
            all = found;
            return found;
        });
        return all;
    }

    private bool Iterate(Value c, Func<Value, Value, bool> k)
    {
        switch (c)
        {
            case ArrayValue a:
                for (var i = 0; i < a.Items.Length; i++)
                {
                    Step();
                    if (!k(new NumberValue(i), a.Items[i])) return false;
                }
                return true;
            case SetValue s:
                foreach (var v in s.Sorted)
                {
                    Step();
                    if (!k(v, v)) return false;
                }
                return true;
            case ObjectValue o:
                foreach (var key in o.SortedKeys)
                {
                    Step();
                    if (!k(key, o.Map[key])) return false;
                }
                return true;
            default:
                return true;
        }
    }

    private bool EvalWith(Value?[] f, Expr e, Func<bool> k)
    {
        var parent = _ctx;
        var child = new Ctx
        {
            Input = parent.Input,
            DataOverrides = parent.DataOverrides is null ? null : [.. parent.DataOverrides],
            Mocks = parent.Mocks is null ? null : new Dictionary<string, object>(parent.Mocks, StringComparer.Ordinal),
            Cache = new object?[_prog.RuleSetCount],
        };
        foreach (var w in e.Withs)
        {
            if (w.MockTarget is { } target && (w.MockBuiltin ?? (object?)w.MockFunction) is { } fn)
            {
                (child.Mocks ??= new(StringComparer.Ordinal))[target] = fn;
                continue;
            }
            Value? value = null;
            EvalTerm(f, w.Value, v =>
            {
                value = v;
                return false;
            });
            if (value is null) return true;
            if (w.MockTarget is { } mocked) (child.Mocks ??= new(StringComparer.Ordinal))[mocked] = value;
            else if (w.IsInput) child.Input = w.DataPath.Length == 0 ? value : Patch(child.Input, w.DataPath, 0, value);
            else
            {
                child.DataOverrides ??= [];
                child.DataOverrides.RemoveAll(o => o.Path.AsSpan().SequenceEqual(w.DataPath));
                child.DataOverrides.Add((w.DataPath, value));
            }
        }
        _ctx = child;
        try
        {
            return EvalNegatable(f, e, () =>
            {
                _ctx = parent;
                try
                {
                    return k();
                }
                finally
                {
                    _ctx = child;
                }
            });
        }
        finally
        {
            _ctx = parent;
        }
    }

    private static Value Patch(Value? target, string[] path, int i, Value value)
    {
        if (i == path.Length) return value;
        var map = target is ObjectValue o ? new Dictionary<Value, Value>(o.Map) : new Dictionary<Value, Value>();
        var key = new StringValue(path[i]);
        map[key] = Patch(map.GetValueOrDefault(key), path, i + 1, value);
        return new ObjectValue(map);
    }

    // ---- unification ---------------------------------------------------------------------

    private static bool HasUnboundPattern(Value?[] f, Term t) => t switch
    {
        VarTerm v => f[v.Slot] is null,
        ArrayTerm { Const: null } a => a.Items.Any(i => HasUnboundPattern(f, i)),
        ObjectTerm { Const: null } o => o.Items.Any(i => HasUnboundPattern(f, i.Value)),
        _ => false,
    };

    private bool Unify(Value?[] f, Term pattern, Value v, Func<bool> k)
    {
        switch (pattern)
        {
            case VarTerm var:
                {
                    var cur = f[var.Slot];
                    if (cur is not null) return !cur.Equals(v) || k();
                    f[var.Slot] = v;
                    try
                    {
                        return k();
                    }
                    finally
                    {
                        f[var.Slot] = null;
                    }
                }
            case ArrayTerm { Const: null } a:
                return v is not ArrayValue av || av.Items.Length != a.Items.Length || UnifyItems(f, a.Items, av.Items, 0, k);
            case ObjectTerm { Const: null } o:
                return v is not ObjectValue ov || ov.Count != o.Items.Length || UnifyObject(f, o.Items, ov, 0, k);
            default:
                return UnifyGround(f, pattern, v, k);
        }
    }

    private bool UnifyGround(Value?[] f, Term pattern, Value v, Func<bool> k)
    {
        if (IsDirect(f, pattern))
        {
            var pv = EvalDirect(f, pattern);
            return pv is null || !pv.Equals(v) || k();
        }
        return EvalTermSlow(f, pattern, pv => !pv.Equals(v) || k());
    }

    private bool UnifyItems(Value?[] f, Term[] pats, Value[] vals, int i, Func<bool> k) =>
        i == pats.Length ? k() : Unify(f, pats[i], vals[i], () => UnifyItems(f, pats, vals, i + 1, k));

    private bool UnifyObject(Value?[] f, (Term Key, Term Value)[] items, ObjectValue ov, int i, Func<bool> k)
    {
        if (i == items.Length) return k();
        return EvalTerm(f, items[i].Key, key => ov.Get(key) is not { } val || Unify(f, items[i].Value, val, () => UnifyObject(f, items, ov, i + 1, k)));
    }
}

internal sealed partial class Interpreter
{
    /// <summary>Evaluates a query body, recording each expression's value (by original position) for every solution.</summary>
    public bool EvalQuery(Value?[] f, Expr[] body, int i, Value?[] values, int[] originalIndex, Func<Value?[], bool> k)
    {
        if (i == body.Length) return k(values);
        var e = body[i];
        if (e is TermExpr te && !e.Negated && e.Withs.Length == 0)
        {
            Step();
            // As OPA's query compiler does (rewriteToCaptureValue), a term expression captures its value, false included.
            return EvalTerm(f, te.Term, v =>
            {
                values[originalIndex[i]] = v;
                return EvalQuery(f, body, i + 1, values, originalIndex, k);
            });
        }
        return EvalExpr(f, e, () =>
        {
            // Assignments the compiler added (hoisted calls) have no place in the result.
            if (originalIndex[i] >= 0) values[originalIndex[i]] = Value.True;
            return EvalQuery(f, body, i + 1, values, originalIndex, k);
        });
    }
}
