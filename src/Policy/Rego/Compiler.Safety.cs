namespace Sandbox.Policy.Rego;

internal sealed partial class Compiler
{
    // ---- Stage: CheckSafety --------------------------------------------------------------
    // Reorders each body so every expression runs only once the variables it reads are bound
    // (as OPA does), reports rego_unsafe_var_error otherwise, then assigns local slots.

    private void CheckSafety()
    {
        foreach (var set in RuleSets)
        {
            IEnumerable<Rule> defs = set.Default is null ? set.Rules : set.Rules.Append(set.Default);
            foreach (var r in defs) CheckRuleSafety(r);
        }
    }

    private void CheckRuleSafety(Rule r)
    {
        for (var def = r; def is not null; def = def.Else)
        {
            var bound = new HashSet<string>(StringComparer.Ordinal);
            var visible = new HashSet<string>(StringComparer.Ordinal);
            if (def.Args is not null)
                foreach (var a in def.Args)
                {
                    var needs = new HashSet<string>(StringComparer.Ordinal);
                    var gens = new HashSet<string>(StringComparer.Ordinal);
                    ScanPattern(a, bound, needs, gens, visible);
                    foreach (var n in needs) ReportUnsafe(n, a);
                }
            if (def.Key is not null) ShallowVars(def.Key, visible);
            if (def.Value is not null) ShallowVars(def.Value, visible);
            visible.UnionWith(bound);
            def.Body = Order(def.Body, bound, visible);
            if (def.Key is not null) CheckHead(def.Key, bound);
            if (def.Value is not null) CheckHead(def.Value, bound);
        }
        AssignSlots(r);
    }

    internal int CompileQueryBody(ref Expr[] body)
    {
        var bound = new HashSet<string>(StringComparer.Ordinal);
        body = ExpandBody(body);
        body = Order(body, bound, new HashSet<string>(StringComparer.Ordinal));
        var slots = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var e in body)
            foreach (var t in AstWalk.DeepExpr(e))
                if (t is VarTerm v) v.Slot = SlotFor(slots, v.Name);
        foreach (var e in body)
            foreach (var t in AstWalk.DeepExpr(e))
                if (t is RootTerm root) IndexRoot(root);
        FoldAll(body.SelectMany(AstWalk.DeepExpr));
        if (_errors.Count > 0) throw new RegoCompileException(_errors.ToList());
        return slots.Count;
    }

    private static int SlotFor(Dictionary<string, int> slots, string name)
    {
        if (!slots.TryGetValue(name, out var i)) slots[name] = i = slots.Count;
        return i;
    }

    private static void AssignSlots(Rule r)
    {
        var slots = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var t in AstWalk.DeepRule(r))
            if (t is VarTerm v) v.Slot = SlotFor(slots, v.Name);
        for (var def = r; def is not null; def = def.Else) def.SlotCount = slots.Count;
    }

    private void CheckHead(Term head, HashSet<string> bound)
    {
        var needs = new HashSet<string>(StringComparer.Ordinal);
        var gens = new HashSet<string>(StringComparer.Ordinal);
        ScanValue(head, needs, gens, bound);
        needs.UnionWith(gens);
        foreach (var n in needs)
            if (!bound.Contains(n)) ReportUnsafe(n, head);
    }

    private void ReportUnsafe(string name, Term within)
    {
        var at = AstWalk.Deep(within).OfType<VarTerm>().FirstOrDefault(v => v.Name == name)?.Loc ?? within.Loc;
        Error(RegoErrorCodes.UnsafeVarError, $"var {VarTerm.SourceNameOf(name)} is unsafe", at);
    }

    private Expr[] Order(Expr[] body, HashSet<string> bound, HashSet<string> outerVisible)
    {
        var visible = new HashSet<string>(outerVisible, StringComparer.Ordinal);
        foreach (var e in body)
            foreach (var t in AstWalk.TermsOf(e)) ShallowVars(t, visible);
        var visibleFor = VisibleToComprehensions(body, visible);
        var remaining = body.ToList();
        var ordered = new List<Expr>(body.Length);
        var assigned = new HashSet<string>(StringComparer.Ordinal);
        while (remaining.Count > 0)
        {
            var picked = -1;
            HashSet<string>? outs = null;
            for (var i = 0; i < remaining.Count && picked < 0; i++)
            {
                if (Analyze(remaining[i], bound, visibleFor(remaining[i]), out outs, out _)) picked = i;
            }
            if (picked < 0)
            {
                Analyze(remaining[0], bound, visibleFor(remaining[0]), out _, out var missing);
                ReportUnsafe(missing ?? "?", AstWalk.TermsOf(remaining[0]).FirstOrDefault() ?? new ScalarTerm(remaining[0].Loc, Value.Null));
                return body;
            }
            var e = remaining[picked];
            remaining.RemoveAt(picked);
            if (e is AssignExpr a)
            {
                var pats = new HashSet<string>(StringComparer.Ordinal);
                CollectPatternVars(a.Left, pats);
                foreach (var p in pats)
                    if (!assigned.Add(p) || bound.Contains(p))
                        Error(RegoErrorCodes.CompileError, $"var {p} assigned above", e.Loc);
            }
            OrderNested(e, bound, visibleFor(e));
            bound.UnionWith(outs!);
            ordered.Add(e);
        }
        return ordered.ToArray();
    }

    /// <summary>
    /// The outer variables a comprehension in each expression can see. As in OPA (which rewrites `:=`
    /// declarations in source order), a variable declared with `:=` at or after the expression is not yet
    /// declared there: the comprehension's variable of that name is its own, and binds nothing outside.
    /// </summary>
    private static Func<Expr, HashSet<string>> VisibleToComprehensions(Expr[] body, HashSet<string> visible)
    {
        var declaredAt = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var i = 0; i < body.Length; i++)
        {
            if (body[i] is not AssignExpr a) continue;
            var pats = new HashSet<string>(StringComparer.Ordinal);
            CollectPatternVars(a.Left, pats);
            foreach (var p in pats) declaredAt.TryAdd(p, i);
        }
        if (declaredAt.Count == 0) return _ => visible;
        var perExpr = new Dictionary<Expr, HashSet<string>>(ReferenceEqualityComparer.Instance);
        for (var i = 0; i < body.Length; i++)
        {
            var later = declaredAt.Where(d => d.Value >= i).Select(d => d.Key).ToList();
            if (later.Count == 0)
            {
                perExpr[body[i]] = visible;
                continue;
            }
            var v = new HashSet<string>(visible, StringComparer.Ordinal);
            v.ExceptWith(later);
            perExpr[body[i]] = v;
        }
        return e => perExpr.TryGetValue(e, out var v) ? v : visible;
    }

    private void OrderNested(Expr e, HashSet<string> bound, HashSet<string> visible)
    {
        foreach (var t in AstWalk.TermsOf(e)) OrderComprehensions(t, bound, visible);
        if (e is EveryExpr ev)
        {
            var inner = new HashSet<string>(bound, StringComparer.Ordinal);
            var innerVisible = new HashSet<string>(visible, StringComparer.Ordinal);
            if (ev.Key is not null) { inner.Add(ev.Key.Name); innerVisible.Add(ev.Key.Name); }
            inner.Add(ev.Value.Name);
            innerVisible.Add(ev.Value.Name);
            ev.Body = Order(ev.Body, inner, innerVisible);
        }
    }

    private void OrderComprehensions(Term t, HashSet<string> bound, HashSet<string> visible)
    {
        if (t is ComprehensionTerm c)
        {
            RenameLocals(c, visible);
            var inner = new HashSet<string>(bound, StringComparer.Ordinal);
            c.Body = Order(c.Body, inner, visible);
            CheckHead(c.Head, inner);
            if (c.ValueTerm is not null) CheckHead(c.ValueTerm, inner);
            return;
        }
        foreach (var child in AstWalk.Children(t)) OrderComprehensions(child, bound, visible);
    }

    private int _renamed;

    /// <summary>Gives the comprehension's own variables (those no outer scope can see) names of their own.</summary>
    private void RenameLocals(ComprehensionTerm c, HashSet<string> visible)
    {
        var names = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var d in AstWalk.Deep(c))
        {
            if (d is not VarTerm v || v.IsWildcard || visible.Contains(v.Name)) continue;
            if (!names.TryGetValue(v.Name, out var renamed)) names[v.Name] = renamed = $"{v.Name}${++_renamed}";
            v.Name = renamed;
        }
    }

    /// <summary>Vars of a term outside nested comprehensions.</summary>
    private static void ShallowVars(Term t, HashSet<string> into)
    {
        if (t is VarTerm v) into.Add(v.Name);
        if (t is ComprehensionTerm) return;
        foreach (var c in AstWalk.Children(t)) ShallowVars(c, into);
    }

    private static HashSet<string> DeepVars(IEnumerable<Term> terms)
    {
        var s = new HashSet<string>(StringComparer.Ordinal);
        foreach (var t in terms) if (t is VarTerm v) s.Add(v.Name);
        return s;
    }

    /// <summary>Collects what an expression reads (needs) and binds (outs) given the bound set.</summary>
    private static bool Analyze(Expr e, HashSet<string> bound, HashSet<string> visible, out HashSet<string> outs, out string? missing)
    {
        var needs = new HashSet<string>(StringComparer.Ordinal);
        var gens = new HashSet<string>(StringComparer.Ordinal);
        var pats = new HashSet<string>(StringComparer.Ordinal);
        outs = new HashSet<string>(StringComparer.Ordinal);
        missing = null;
        switch (e)
        {
            case TermExpr t:
                ScanValue(t.Term, needs, gens, visible);
                break;
            case AssignExpr a:
                ScanValue(a.Right, needs, gens, visible);
                ScanPattern(a.Left, pats, needs, gens, visible);
                break;
            case UnifyExpr u:
                {
                    // Either side may be the pattern; pick the one whose other side can be evaluated now.
                    var n1 = new HashSet<string>(StringComparer.Ordinal);
                    var g1 = new HashSet<string>(StringComparer.Ordinal);
                    var p1 = new HashSet<string>(StringComparer.Ordinal);
                    ScanValue(u.Right, n1, g1, visible);
                    ScanPattern(u.Left, p1, n1, g1, visible);
                    if (n1.All(n => bound.Contains(n) || g1.Contains(n)))
                    {
                        needs = n1; gens = g1; pats = p1;
                    }
                    else
                    {
                        ScanValue(u.Left, needs, gens, visible);
                        ScanPattern(u.Right, pats, needs, gens, visible);
                        if (!needs.All(n => bound.Contains(n) || gens.Contains(n)))
                        {
                            missing = n1.FirstOrDefault(n => !bound.Contains(n) && !g1.Contains(n));
                            return false;
                        }
                    }
                    break;
                }
            case SomeDeclExpr:
                break;
            case SomeInExpr si:
                ScanValue(si.Collection, needs, gens, visible);
                if (si.Key is not null) ScanPattern(si.Key, pats, needs, gens, visible);
                ScanPattern(si.Value, pats, needs, gens, visible);
                break;
            case EveryExpr ev:
                {
                    ScanValue(ev.Collection, needs, gens, visible);
                    var inner = DeepVars(ev.Body.SelectMany(AstWalk.DeepExpr));
                    inner.Remove(ev.Value.Name);
                    if (ev.Key is not null) inner.Remove(ev.Key.Name);
                    foreach (var v in inner) if (visible.Contains(v)) needs.Add(v);
                    gens.Clear();
                    break;
                }
        }
        foreach (var w in e.Withs) ScanValue(w.Value, needs, needs, visible);
        if (e.Negated)
        {
            needs.UnionWith(pats);
            pats.Clear();
            gens.Clear();
        }
        foreach (var n in needs)
        {
            if (!bound.Contains(n) && !gens.Contains(n))
            {
                missing = n;
                return false;
            }
        }
        outs.UnionWith(gens);
        outs.UnionWith(pats);
        return true;
    }

    private static void ScanValue(Term t, HashSet<string> needs, HashSet<string> gens, HashSet<string> visible)
    {
        switch (t)
        {
            case VarTerm v: needs.Add(v.Name); break;
            case RefTerm r:
                ScanValue(r.Head, needs, gens, visible);
                foreach (var p in r.Path)
                {
                    if (p is VarTerm pv) gens.Add(pv.Name);
                    else ScanValue(p, needs, gens, visible);
                }
                break;
            case ComprehensionTerm c:
                foreach (var d in AstWalk.Deep(c))
                    if (d is VarTerm dv && visible.Contains(dv.Name)) needs.Add(dv.Name);
                break;
            default:
                foreach (var c in AstWalk.Children(t)) ScanValue(c, needs, gens, visible);
                break;
        }
    }

    private static void ScanPattern(Term t, HashSet<string> pats, HashSet<string> needs, HashSet<string> gens, HashSet<string> visible)
    {
        switch (t)
        {
            case VarTerm v: pats.Add(v.Name); break;
            case ArrayTerm a: foreach (var i in a.Items) ScanPattern(i, pats, needs, gens, visible); break;
            case ObjectTerm o:
                foreach (var (k, v) in o.Items)
                {
                    ScanValue(k, needs, gens, visible);
                    ScanPattern(v, pats, needs, gens, visible);
                }
                break;
            default: ScanValue(t, needs, gens, visible); break;
        }
    }
}
