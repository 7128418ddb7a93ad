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
        return EvalExpr(f, body[i], () => EvalBody(f, body, i + 1, k));
    }

    public bool EvalExpr(Value?[] f, Expr e, Func<bool> k)
    {
        Step();
        return e.Withs.Length > 0 ? EvalWith(f, e, k) : EvalNegatable(f, e, k);
    }

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

    private bool EvalCore(Value?[] f, Expr e, Func<bool> k)
    {
        switch (e)
        {
            case TermExpr t:
                return EvalTerm(f, t.Term, v => v is BoolValue { V: false } || k());
            case AssignExpr a:
                return EvalTerm(f, a.Right, v => Unify(f, a.Left, v, k));
            case UnifyExpr u:
                if (!HasUnboundPattern(f, u.Right)) return EvalTerm(f, u.Right, v => Unify(f, u.Left, v, k));
                if (!HasUnboundPattern(f, u.Left)) return EvalTerm(f, u.Left, v => Unify(f, u.Right, v, k));
                throw new RegoException(RegoErrorCodes.UnsafeVarError, "unification of two unbound patterns", u.Loc);
            case SomeDeclExpr:
                return k();
            case SomeInExpr si:
                return EvalTerm(f, si.Collection, c => Iterate(c, (key, val) =>
                    si.Key is null ? Unify(f, si.Value, val, k) : Unify(f, si.Key, key, () => Unify(f, si.Value, val, k))));
            case EveryExpr ev:
                return EvalTerm(f, ev.Collection, c => EvalEvery(f, ev, c) ? k() : true);
            default:
                throw new RegoException(RegoErrorCodes.InternalError, $"unsupported expression {e.GetType().Name}", e.Loc);
        }
    }

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
            Cache = new object?[_prog.RuleSetCount],
        };
        foreach (var w in e.Withs)
        {
            Value? value = null;
            EvalTerm(f, w.Value, v =>
            {
                value = v;
                return false;
            });
            if (value is null) return true;
            if (w.IsInput) child.Input = w.DataPath.Length == 0 ? value : Patch(child.Input, w.DataPath, 0, value);
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
                return EvalTerm(f, pattern, pv => !pv.Equals(v) || k());
        }
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
            values[originalIndex[i]] = Value.True;
            return EvalQuery(f, body, i + 1, values, originalIndex, k);
        });
    }
}
