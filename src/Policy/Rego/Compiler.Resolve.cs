namespace Sandbox.Policy.Rego;

internal sealed partial class Compiler
{
    // ---- Stage: ResolveRefs --------------------------------------------------------------
    // Bare names become locals, `input`, data paths (rules of the same package, imports) or builtins.

    private sealed class Scope(Module module, HashSet<string> declared, HashSet<string> packageRules, HashSet<string> packageFunctions)
    {
        public Module Module { get; } = module;
        public HashSet<string> Declared { get; } = declared;
        public HashSet<string> PackageRules { get; } = packageRules;
        public HashSet<string> PackageFunctions { get; } = packageFunctions;
    }

    private void ResolveRefs()
    {
        // The names a package defines: the first name of every rule head in any of its modules.
        var names = new Dictionary<string, (HashSet<string> Rules, HashSet<string> Funcs)>(StringComparer.Ordinal);
        foreach (var m in _modules)
        {
            var pkg = string.Join('\u0001', m.Package);
            if (!names.TryGetValue(pkg, out var sets)) names[pkg] = sets = (new(StringComparer.Ordinal), new(StringComparer.Ordinal));
            foreach (var r in m.Rules)
            {
                if (r.Kind == RuleKind.Function && r.HeadPath.Length == 0) sets.Funcs.Add(r.Name);
                else sets.Rules.Add(r.Name);
            }
        }
        foreach (var m in _modules)
        {
            var (rules, funcs) = names[string.Join('\u0001', m.Package)];
            foreach (var r in m.Rules) ResolveRule(r, new Scope(m, [], rules, funcs));
        }
    }

    private void ResolveRule(Rule r, Scope baseScope)
    {
        var declared = new HashSet<string>(StringComparer.Ordinal);
        for (var def = r; def is not null; def = def.Else)
        {
            if (def.Args is not null) foreach (var a in def.Args) CollectVars(a, declared);
            foreach (var e in def.Body) CollectDeclared(e, declared);
        }
        var scope = new Scope(baseScope.Module, declared, baseScope.PackageRules, baseScope.PackageFunctions);
        for (var def = r; def is not null; def = def.Else)
        {
            if (def.Args is not null) for (var i = 0; i < def.Args.Length; i++) def.Args[i] = Resolve(def.Args[i], scope);
            if (def.Key is not null) def.Key = Resolve(def.Key, scope);
            if (def.Value is not null) def.Value = Resolve(def.Value, scope);
            foreach (var e in def.Body) ResolveExpr(e, scope);
        }
    }

    internal void ResolveQuery(Expr[] body, Module module)
    {
        var declared = new HashSet<string>(StringComparer.Ordinal);
        foreach (var e in body) CollectDeclared(e, declared);
        var scope = new Scope(module, declared, [], []);
        foreach (var e in body) ResolveExpr(e, scope);
    }

    private static void CollectVars(Term t, HashSet<string> into)
    {
        foreach (var d in AstWalk.Deep(t))
            if (d is VarTerm v) into.Add(v.Name);
    }

    private static void CollectDeclared(Expr e, HashSet<string> into)
    {
        switch (e)
        {
            case AssignExpr a: CollectPatternVars(a.Left, into); break;
            case SomeDeclExpr s: foreach (var v in s.Vars) into.Add(v.Name); break;
            case SomeInExpr si:
                if (si.Key is not null) CollectPatternVars(si.Key, into);
                CollectPatternVars(si.Value, into);
                break;
            case EveryExpr ev:
                if (ev.Key is not null) into.Add(ev.Key.Name);
                into.Add(ev.Value.Name);
                foreach (var b in ev.Body) CollectDeclared(b, into);
                break;
        }
        foreach (var t in AstWalk.TermsOf(e))
            foreach (var d in AstWalk.Deep(t))
                if (d is ComprehensionTerm c)
                    foreach (var b in c.Body) CollectDeclared(b, into);
    }

    private static void CollectPatternVars(Term t, HashSet<string> into)
    {
        switch (t)
        {
            case VarTerm v: into.Add(v.Name); break;
            case ArrayTerm a: foreach (var i in a.Items) CollectPatternVars(i, into); break;
            case ObjectTerm o: foreach (var (_, v) in o.Items) CollectPatternVars(v, into); break;
        }
    }

    private void ResolveExpr(Expr e, Scope s)
    {
        switch (e)
        {
            case TermExpr t: t.Term = Resolve(t.Term, s); break;
            case AssignExpr a:
                if (a.Left is not (VarTerm or ArrayTerm or ObjectTerm))
                    Error(RegoErrorCodes.CompileError, $"cannot assign to {Describe(a.Left)}", a.Loc);
                a.Left = Resolve(a.Left, s);
                a.Right = Resolve(a.Right, s);
                break;
            case UnifyExpr u:
                u.Left = Resolve(u.Left, s);
                u.Right = Resolve(u.Right, s);
                break;
            case SomeInExpr si:
                if (si.Key is not null) si.Key = Resolve(si.Key, s);
                si.Value = Resolve(si.Value, s);
                si.Collection = Resolve(si.Collection, s);
                break;
            case EveryExpr ev:
                ev.Collection = Resolve(ev.Collection, s);
                foreach (var b in ev.Body) ResolveExpr(b, s);
                break;
        }
        foreach (var w in e.Withs)
        {
            if (FunctionNamed(w.Target, s) is { } fnTarget)
            {
                ResolveMock(w, fnTarget, s);
                continue;
            }
            w.Value = Resolve(w.Value, s);
            var target = Resolve(w.Target, s);
            switch (target)
            {
                case RootTerm { IsInput: true }:
                    w.IsInput = true;
                    break;
                case RefTerm { Head: RootTerm { IsInput: true } } rt when rt.Path.All(p => p is ScalarTerm { V: StringValue }):
                    w.IsInput = true;
                    w.DataPath = rt.Path.Select(p => ((StringValue)((ScalarTerm)p).V).V).ToArray();
                    break;
                case RootTerm { IsInput: false } root when root.DataPath.Length > 0:
                    w.DataPath = root.DataPath;
                    break;
                default:
                    Error(RegoErrorCodes.TypeError, $"with keyword target {Describe(w.Target)} must reference input, a path under data, a function or a builtin", w.Loc);
                    break;
            }
        }
    }

    /// <summary>The non-deterministic builtins run only when the compile options enable them.</summary>
    private bool CapabilityEnabled(Builtin b) => b.Name switch
    {
        "time.now_ns" => _options.AllowTimeNow,
        "rand.intn" => _options.AllowRandom,
        _ => false,
    };

    /// <summary>
    /// <c>with f as g</c> / <c>with count as 1</c>: replaces a builtin or user function for the expression. The
    /// replacement is a function of the same arity (called instead) or any other term (its value is returned by
    /// every call, whose arguments are still evaluated).
    /// </summary>
    private void ResolveMock(WithModifier w, (Builtin? B, RuleSet? F, int Arity) target, Scope s)
    {
        w.MockTarget = target.B?.Name ?? target.F!.PathText;
        if (FunctionNamed(w.Value, s) is { } repl)
        {
            if (repl.Arity != target.Arity)
                Error(RegoErrorCodes.TypeError, $"with keyword replacing {w.MockTarget} (arity {target.Arity}) by {repl.B?.Name ?? repl.F!.PathText} (arity {repl.Arity}): arities must match", w.Loc);
            if (repl.B is { RequiresCapability: true } && !CapabilityEnabled(repl.B))
                Error(RegoErrorCodes.TypeError, $"undefined function {repl.B.Name}", w.Loc);
            w.MockBuiltin = repl.B;
            w.MockFunction = repl.F;
            w.Value = new ScalarTerm(w.Value.Loc, Value.Null); // not evaluated
            return;
        }
        w.Value = Resolve(w.Value, s);
    }

    /// <summary>The builtin or user function a with target or replacement names (<c>count</c>, <c>f</c>, <c>data.p.f</c>), or null.</summary>
    private (Builtin? B, RuleSet? F, int Arity)? FunctionNamed(Term t, Scope s)
    {
        var name = new List<string>();
        for (var cur = t; ; )
        {
            if (cur is VarTerm v)
            {
                name.Insert(0, v.Name);
                break;
            }
            if (cur is RefTerm { Path.Length: > 0 } r && r.Path.All(p => p is ScalarTerm { V: StringValue }))
            {
                name.InsertRange(0, r.Path.Select(p => ((StringValue)((ScalarTerm)p).V).V));
                cur = r.Head;
                continue;
            }
            return null;
        }
        if (s.Declared.Contains(name[0]) || name[0] == "input") return null;
        string[]? path = null;
        if (name[0] == "data") path = name.Skip(1).ToArray();
        else if (s.Module.Imports.TryGetValue(name[0], out var imported))
        {
            if (Resolve(CloneImport(imported), new Scope(s.Module, [], [], [])) is RootTerm { IsInput: false } root) path = [.. root.DataPath, .. name.Skip(1)];
        }
        else if (s.PackageFunctions.Contains(name[0]) || s.PackageRules.Contains(name[0])) path = [.. s.Module.Package, .. name];
        if (path is not null)
            return FindRuleSet(path) is { Kind: RuleKind.Function } set ? (null, set, set.Arity) : null;
        return _builtins.TryGet(string.Join('.', name), out var b) ? (b, null, b.Arity) : null;
    }

    private static string Describe(Term t) => t switch
    {
        VarTerm v => v.Name,
        ScalarTerm s => s.V.ToJson(),
        CallTerm c => c.DisplayName + "(...)",
        RefTerm r => Describe(r.Head) + string.Concat(r.Path.Select(p => p is ScalarTerm { V: StringValue sv } ? "." + sv.V : "[...]")),
        RootTerm root => root.IsInput ? "input" : "data" + string.Concat(root.DataPath.Select(p => "." + p)),
        _ => "term",
    };

    private bool IsGlobal(string name, Scope s) =>
        !s.Declared.Contains(name) && (name is "input" or "data" || s.PackageRules.Contains(name) || s.PackageFunctions.Contains(name) || s.Module.Imports.ContainsKey(name));

    private Term Resolve(Term t, Scope s)
    {
        switch (t)
        {
            case VarTerm v:
                if (!IsGlobal(v.Name, s)) return v;
                if (v.Name == "input") return new RootTerm(v.Loc, true, []);
                if (v.Name == "data") return new RootTerm(v.Loc, false, []);
                if (s.Module.Imports.TryGetValue(v.Name, out var imported)) return Resolve(CloneImport(imported), new Scope(s.Module, [], [], []));
                if (s.PackageFunctions.Contains(v.Name))
                {
                    Error(RegoErrorCodes.TypeError, $"function {v.Name} must be called with arguments", v.Loc);
                    return v;
                }
                return new RootTerm(v.Loc, false, [.. s.Module.Package, v.Name]);
            case RefTerm r:
                {
                    var head = Resolve(r.Head, s);
                    var path = r.Path.Select(p => Resolve(p, s)).ToList();
                    if (head is RefTerm inner)
                    {
                        path.InsertRange(0, inner.Path);
                        head = inner.Head;
                    }
                    if (head is RootTerm root)
                    {
                        var prefix = new List<string>(root.DataPath);
                        var consumed = 0;
                        while (consumed < path.Count && DataKey(path[consumed], root.IsInput ? null : prefix) is { } key)
                        {
                            prefix.Add(key);
                            consumed++;
                        }
                        if (root.IsInput) return path.Count == 0 ? root : new RefTerm(r.Loc, root, path.ToArray());
                        var folded = new RootTerm(root.Loc, false, prefix.ToArray());
                        return consumed == path.Count ? folded : new RefTerm(r.Loc, folded, path.Skip(consumed).ToArray());
                    }
                    r.Head = head;
                    r.Path = path.ToArray();
                    return r;
                }
            case CallTerm c:
                for (var i = 0; i < c.Args.Length; i++) c.Args[i] = Resolve(c.Args[i], s);
                ResolveCallTarget(c, s);
                return c;
            case ArrayTerm a:
                for (var i = 0; i < a.Items.Length; i++) a.Items[i] = Resolve(a.Items[i], s);
                return a;
            case SetTerm st:
                for (var i = 0; i < st.Items.Length; i++) st.Items[i] = Resolve(st.Items[i], s);
                return st;
            case ObjectTerm o:
                for (var i = 0; i < o.Items.Length; i++) o.Items[i] = (Resolve(o.Items[i].Key, s), Resolve(o.Items[i].Value, s));
                return o;
            case ComprehensionTerm ct:
                {
                    var head = Resolve(ct.Head, s);
                    var val = ct.ValueTerm is null ? null : Resolve(ct.ValueTerm, s);
                    foreach (var e in ct.Body) ResolveExpr(e, s);
                    return new ComprehensionTerm(ct.Loc, ct.Kind, head, val, ct.Body);
                }
            default:
                return t;
        }
    }

    /// <summary>
    /// A constant key that folds into a data path: a string, or (as OPA's storage paths do) an integer in its decimal
    /// form while the path is still among packages and base data (<c>data.nested[2]</c> reads the member "2", and a
    /// base array's element 2). Under a rule the number keeps its meaning (a set member, an object key, an index).
    /// </summary>
    private string? DataKey(Term t, List<string>? dataPrefix)
    {
        if (t is ScalarTerm { V: StringValue sv }) return sv.V;
        if (dataPrefix is null || t is not ScalarTerm { V: NumberValue n } || !n.IsInteger) return null;
        var node = TreeRoot;
        foreach (var p in dataPrefix)
        {
            if (node.Rules is not null) return null;
            if (!node.Children.TryGetValue(p, out node!)) return n.ToJson();
        }
        return node.Rules is null ? n.ToJson() : null;
    }

    private static Term CloneImport(Term t) => t switch
    {
        VarTerm v => new VarTerm(v.Loc, v.Name),
        RefTerm r => new RefTerm(r.Loc, CloneImport(r.Head), r.Path.ToArray()),
        _ => t,
    };

    private void ResolveCallTarget(CallTerm c, Scope s)
    {
        var name = c.Name;
        string[]? fnPath = null;
        if (s.Declared.Contains(name[0]))
        {
            Error(RegoErrorCodes.TypeError, $"undefined function {c.DisplayName}", c.Loc);
            return;
        }
        if (s.Module.Imports.TryGetValue(name[0], out var imported))
        {
            var resolved = Resolve(CloneImport(imported), new Scope(s.Module, [], [], []));
            if (resolved is RootTerm { IsInput: false } root) fnPath = [.. root.DataPath, .. name[1..]];
        }
        else if (name[0] == "data") fnPath = name[1..];
        else if (name.Length == 1 && s.PackageFunctions.Contains(name[0])) fnPath = [.. s.Module.Package, name[0]];
        else if (name.Length > 1 && s.PackageRules.Contains(name[0])) fnPath = [.. s.Module.Package, .. name]; // foo["bar"](x) := ...

        if (fnPath is not null)
        {
            var set = FindRuleSet(fnPath);
            if (set is null || set.Kind != RuleKind.Function)
            {
                Error(RegoErrorCodes.TypeError, $"undefined function data.{string.Join('.', fnPath)}", c.Loc);
                return;
            }
            c.OutputArg = set.Arity + 1 == c.Args.Length;
            if (set.Arity != c.Args.Length && !c.OutputArg)
            {
                Error(RegoErrorCodes.TypeError, $"function {set.PathText} expects {set.Arity} argument(s), got {c.Args.Length}", c.Loc);
                return;
            }
            c.FunctionPath = fnPath;
            c.Function = set;
            return;
        }
        if (!_builtins.TryGet(c.DisplayName, out var b) || (b.RequiresCapability && !CapabilityEnabled(b)))
        {
            Error(RegoErrorCodes.TypeError, $"undefined function {c.DisplayName}", c.Loc);
            return;
        }
        c.OutputArg = b.Arity + 1 == c.Args.Length && !b.Name.StartsWith("internal.", StringComparison.Ordinal);
        if (b.Arity != c.Args.Length && !c.OutputArg)
        {
            Error(RegoErrorCodes.TypeError, $"{b.Name}: arity mismatch: expected {b.Arity} argument(s), got {c.Args.Length}", c.Loc);
            return;
        }
        if (b.Name == "walk" && !c.OutputArg)
        {
            Error(RegoErrorCodes.TypeError, "walk is a relation: call it as walk(x, [path, value]) (the call is the whole expression)", c.Loc);
            return;
        }
        c.Builtin = b;
    }
}
