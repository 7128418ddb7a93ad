namespace Sandbox.Policy.Rego;

/// <summary>Structural traversal of terms and expressions (used by the compiler stages).</summary>
internal static class AstWalk
{
    public static IEnumerable<Term> TermsOf(Expr e)
    {
        switch (e)
        {
            case TermExpr t: yield return t.Term; break;
            case AssignExpr a: yield return a.Left; yield return a.Right; break;
            case UnifyExpr u: yield return u.Left; yield return u.Right; break;
            case SomeDeclExpr s: foreach (var v in s.Vars) yield return v; break;
            case SomeInExpr si:
                if (si.Key is not null) yield return si.Key;
                yield return si.Value;
                yield return si.Collection;
                break;
            case EveryExpr ev:
                if (ev.Key is not null) yield return ev.Key;
                yield return ev.Value;
                yield return ev.Collection;
                break;
        }
        foreach (var w in e.Withs) yield return w.Value;
    }

    public static IEnumerable<Term> Children(Term t)
    {
        switch (t)
        {
            case RefTerm r:
                yield return r.Head;
                foreach (var p in r.Path) yield return p;
                break;
            case CallTerm c: foreach (var a in c.Args) yield return a; break;
            case ArrayTerm a: foreach (var i in a.Items) yield return i; break;
            case SetTerm s: foreach (var i in s.Items) yield return i; break;
            case ObjectTerm o:
                foreach (var (k, v) in o.Items)
                {
                    yield return k;
                    yield return v;
                }
                break;
            case ComprehensionTerm c:
                yield return c.Head;
                if (c.ValueTerm is not null) yield return c.ValueTerm;
                break;
        }
    }

    /// <summary>Every term reachable from <paramref name="t"/>, including those inside comprehension and every bodies.</summary>
    public static IEnumerable<Term> Deep(Term t)
    {
        yield return t;
        foreach (var c in Children(t))
            foreach (var d in Deep(c)) yield return d;
        if (t is ComprehensionTerm ct)
            foreach (var e in ct.Body)
                foreach (var d in DeepExpr(e)) yield return d;
    }

    public static IEnumerable<Term> DeepExpr(Expr e)
    {
        foreach (var t in TermsOf(e))
            foreach (var d in Deep(t)) yield return d;
        if (e is EveryExpr ev)
            foreach (var b in ev.Body)
                foreach (var d in DeepExpr(b)) yield return d;
    }

    public static IEnumerable<Term> DeepRule(Rule r)
    {
        for (var def = r; def is not null; def = def.Else)
        {
            if (def.Args is not null) foreach (var a in def.Args) foreach (var d in Deep(a)) yield return d;
            if (def.Key is not null) foreach (var d in Deep(def.Key)) yield return d;
            if (def.Value is not null) foreach (var d in Deep(def.Value)) yield return d;
            foreach (var e in def.Body) foreach (var d in DeepExpr(e)) yield return d;
        }
    }
}
