namespace Sandbox.Policy.Rego;

internal sealed partial class Compiler
{
    // ---- Stage: ExpandCalls ---------------------------------------------------------------
    // A call with one argument more than its function (`glob.match(p, ds, s, x)`, OPA's output
    // argument) is the expression `x = glob.match(p, ds, s)`; anywhere but a whole expression it is an
    // arity error.
    //
    // OPA's compiler (expandExpr) moves every call nested in an expression's operands into an
    // assignment of its own just before the expression, carrying the expression's `with` modifiers.
    // For `not` this decides the meaning: in `not f(g(input.missing))` the value of g(…) is computed
    // outside the negation, so when it is undefined the whole expression is undefined (the body
    // fails), not true. Only negated expressions are rewritten: elsewhere both forms are equivalent,
    // and keeping the call in place keeps the fast paths of the evaluator.

    private int _hoisted;

    private void ExpandCalls()
    {
        foreach (var set in RuleSets)
        {
            IEnumerable<Rule> defs = set.Default is null ? set.Rules : set.Rules.Append(set.Default);
            foreach (var r in defs)
                for (var def = r; def is not null; def = def.Else)
                {
                    def.Body = ExpandBody(def.Body);
                    // A comprehension in the head (`p := [x | json.is_valid(d, x)]`) has a body of its own.
                    foreach (var head in new[] { def.Key, def.Value }.Concat(def.Args ?? []))
                        if (head is not null)
                        {
                            HoistInComprehensions(head);
                            RejectOutputArgs(head);
                        }
                }
        }
    }

    /// <summary>The value pairs of two object literals whose keys are the same constants; null otherwise.</summary>
    private static List<(Term L, Term R)>? SameConstantKeys(ObjectTerm a, ObjectTerm b)
    {
        if (a.Items.Length == 0 || a.Items.Length != b.Items.Length) return null;
        var pairs = new List<(Term, Term)>(a.Items.Length);
        foreach (var (ka, va) in a.Items)
        {
            if (ka is not ScalarTerm sa) return null;
            var match = Array.FindIndex(b.Items, it => it.Key is ScalarTerm sb && sb.V.Equals(sa.V));
            if (match < 0) return null;
            pairs.Add((va, b.Items[match].Value));
        }
        return pairs;
    }

    internal Expr[] ExpandBody(Expr[] body)
    {
        List<Expr>? result = null;
        for (var i = 0; i < body.Length; i++)
        {
            var e = body[i];
            if (e is TermExpr { Term: CallTerm { OutputArg: true } oc })
            {
                var call = new CallTerm(oc.Loc, oc.Name, oc.Args[..^1]) { Builtin = oc.Builtin, Function = oc.Function, FunctionPath = oc.FunctionPath };
                // walk is a relation: each [path, value] pair is a solution, so the output iterates over them.
                Term rhs = oc.Builtin?.Name == "walk" ? new RefTerm(oc.Loc, call, [new VarTerm(oc.Loc, "$_walk" + ++_hoisted)]) : call;
                e = new UnifyExpr(e.Loc, oc.Args[^1], rhs) { Negated = e.Negated, Withs = e.Withs, Text = e.Text, Origin = e };
                result ??= body.Take(i).ToList();
            }
            // Two array literals of one length unify element by element (`[2, x, 3] = [x, 2, 3]`): split into one
            // expression per pair, so safety ordering can bind a variable from either side, as OPA's unifier does.
            if (e is UnifyExpr { Negated: false, Withs.Length: 0, Left: ArrayTerm la, Right: ArrayTerm ra } && la.Items.Length == ra.Items.Length && la.Items.Length > 0)
            {
                result ??= body.Take(i).ToList();
                result.AddRange(ExpandBody(la.Items.Zip(ra.Items, (l, r) => (Expr)new UnifyExpr(e.Loc, l, r) { Text = e.Text, Origin = e.Origin ?? e }).ToArray()));
                continue;
            }
            // Likewise two object literals with the same constant keys unify value by value
            // (`{"a": [x], "b": y} = {"a": [y], "b": 1}`).
            if (e is UnifyExpr { Negated: false, Withs.Length: 0, Left: ObjectTerm lo, Right: ObjectTerm ro } && SameConstantKeys(lo, ro) is { } pairs)
            {
                result ??= body.Take(i).ToList();
                result.AddRange(ExpandBody(pairs.Select(p => (Expr)new UnifyExpr(e.Loc, p.L, p.R) { Text = e.Text, Origin = e.Origin ?? e }).ToArray()));
                continue;
            }
            // Nested bodies first: a whole-expression call in a comprehension or `every` body is theirs to expand.
            foreach (var t in AstWalk.TermsOf(e)) HoistInComprehensions(t);
            if (e is EveryExpr ev) ev.Body = ExpandBody(ev.Body);
            foreach (var t in AstWalk.TermsOf(e)) RejectOutputArgs(t);
            var extras = new List<Expr>();
            if (e.Negated)
            {
                switch (e)
                {
                    case TermExpr { Term: CallTerm c }:
                        for (var a = 0; a < c.Args.Length; a++) c.Args[a] = Hoist(c.Args[a], e, extras);
                        break;
                    case TermExpr { Term: RefTerm r }:
                        HoistRefPath(r, e, extras);
                        break;
                    case UnifyExpr u:
                        u.Left = Hoist(u.Left, e, extras);
                        u.Right = Hoist(u.Right, e, extras);
                        break;
                }
            }
            else if (e is TermExpr { Term: CallTerm call2 } && call2.Args.Length > 1)
            {
                // A variable that a reference argument enumerates and another argument reads
                // (`foo == input.foos[foo]`): the reference runs first, as OPA's compiler orders it.
                for (var a = 0; a < call2.Args.Length; a++)
                {
                    if (call2.Args[a] is not RefTerm r || !RefEnumeratesVarReadElsewhere(r, call2.Args, a)) continue;
                    var tmp = new VarTerm(r.Loc, $"$_ref{_hoisted++}");
                    extras.Add(new AssignExpr(r.Loc, tmp, r) { Withs = e.Withs, Text = e.Text, IsTemp = true });
                    call2.Args[a] = new VarTerm(r.Loc, tmp.Name);
                }
            }
            if (extras.Count > 0) result ??= body.Take(i).ToList();
            result?.AddRange(extras);
            result?.Add(e);
        }
        return result?.ToArray() ?? body;
    }

    private static bool RefEnumeratesVarReadElsewhere(RefTerm r, Term[] args, int at)
    {
        var pathVars = r.Path.OfType<VarTerm>().Where(v => !v.IsWildcard).Select(v => v.Name).ToHashSet(StringComparer.Ordinal);
        if (pathVars.Count == 0) return false;
        for (var j = 0; j < args.Length; j++)
            if (j != at && AstWalk.Deep(args[j]).OfType<VarTerm>().Any(v => pathVars.Contains(v.Name))) return true;
        return false;
    }

    private void RejectOutputArgs(Term t)
    {
        foreach (var d in AstWalk.Deep(t))
            if (d is CallTerm { OutputArg: true } bad)
            {
                bad.OutputArg = false;
                Error(RegoErrorCodes.TypeError, $"{bad.DisplayName}: arity mismatch: {bad.Args.Length} arguments (one more, an output argument, is allowed only when the call is the whole expression)", bad.Loc);
            }
    }

    private void HoistInComprehensions(Term t)
    {
        foreach (var d in AstWalk.Deep(t))
            if (d is ComprehensionTerm c) c.Body = ExpandBody(c.Body);
    }

    private Term Hoist(Term t, Expr owner, List<Expr> extras)
    {
        switch (t)
        {
            case CallTerm c:
                for (var a = 0; a < c.Args.Length; a++) c.Args[a] = Hoist(c.Args[a], owner, extras);
                var v = new VarTerm(c.Loc, $"$_call{_hoisted++}");
                extras.Add(new AssignExpr(c.Loc, v, c) { Withs = owner.Withs, Text = owner.Text, IsTemp = true });
                return new VarTerm(c.Loc, v.Name);
            case RefTerm r:
                HoistRefPath(r, owner, extras);
                return r;
            case ArrayTerm a:
                for (var i = 0; i < a.Items.Length; i++) a.Items[i] = Hoist(a.Items[i], owner, extras);
                return a;
            case SetTerm s:
                for (var i = 0; i < s.Items.Length; i++) s.Items[i] = Hoist(s.Items[i], owner, extras);
                return s;
            case ObjectTerm o:
                for (var i = 0; i < o.Items.Length; i++) o.Items[i] = (Hoist(o.Items[i].Key, owner, extras), Hoist(o.Items[i].Value, owner, extras));
                return o;
            default:
                return t;
        }
    }

    private void HoistRefPath(RefTerm r, Expr owner, List<Expr> extras)
    {
        if (r.Head is CallTerm) r.Head = Hoist(r.Head, owner, extras);
        for (var i = 0; i < r.Path.Length; i++) r.Path[i] = Hoist(r.Path[i], owner, extras);
    }
}
