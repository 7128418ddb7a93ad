namespace Sandbox.Policy.Rego;

/// <summary>Capabilities and limits applied at compile time.</summary>
public sealed class RegoCompileOptions
{
    /// <summary>Enables <c>time.now_ns</c> (off by default: decisions stay deterministic).</summary>
    public bool AllowTimeNow { get; init; }
    /// <summary>Enables <c>rand.intn</c> (off by default: decisions stay deterministic).</summary>
    public bool AllowRandom { get; init; }
    /// <summary>Maximum size of one policy file, in bytes. Default 1 MiB.</summary>
    public int MaxSourceBytes { get; init; } = 1 << 20;
    /// <summary>Maximum number of modules in a bundle. Default 1000.</summary>
    public int MaxModules { get; init; } = 1000;
}

/// <summary>
/// Compiles parsed modules. The stages run in this order; each adds errors and later stages
/// only run when the earlier ones succeeded (resolution must precede safety, safety precedes recursion).
/// </summary>
internal sealed partial class Compiler
{
    private readonly List<Module> _modules;
    private readonly RegoCompileOptions _options;
    private readonly List<RegoError> _errors = [];
    private readonly BuiltinTable _builtins = BuiltinTable.Default;

    public DataNode Root { get; } = new([]);
    public List<RuleSet> RuleSets { get; } = [];

    public Compiler(List<Module> modules, RegoCompileOptions options, Value? baseData = null)
    {
        _modules = modules;
        _options = options;
        _baseData = baseData;
    }

    private readonly Value? _baseData;

    /// <summary>A compiler for ad-hoc queries against an already compiled tree (its own error list).</summary>
    public Compiler ForQuery()
    {
        var c = new Compiler([], _options);
        c._queryRoot = Root;
        return c;
    }

    private DataNode? _queryRoot;
    private DataNode TreeRoot => _queryRoot ?? Root;

    private (string Name, string Metric, Action Run)[] Stages => [
        ("BuildRuleTree", "compile_stage_build_rule_tree", BuildRuleTree),
        ("CheckDataConflicts", "compile_stage_check_data_conflicts", CheckDataConflicts), // after BuildRuleTree
        ("ResolveRefs", "compile_stage_resolve_refs", ResolveRefs),
        ("ExpandCalls", "compile_stage_expand_calls", ExpandCalls),       // after ResolveRefs (arities known); output args, calls out of `not`
        ("CheckSafety", "compile_stage_check_safety", CheckSafety),        // needs resolved names; orders hoisted assignments
        ("CheckRecursion", "compile_stage_check_recursion", CheckRecursion), // needs resolved data refs
        ("FoldConstants", "compile_stage_fold_constants", FoldConstants),
        ("IndexDataRefs", "compile_stage_index_data_refs", IndexDataRefs),
    ];

    public void Run()
    {
        foreach (var stage in Stages)
        {
            stage.Run();
            if (_errors.Count > 0) throw new RegoCompileException(_errors.Take(RegoCompileException.MaxErrors).ToList());
        }
    }

    private void Error(string code, string message, RegoLocation? loc)
    {
        if (_errors.Count < RegoCompileException.MaxErrors) _errors.Add(new RegoError(code, message, loc));
    }

    // ---- Stage: BuildRuleTree ------------------------------------------------------------
    private void BuildRuleTree()
    {
        var byPath = new Dictionary<string, RuleSet>(StringComparer.Ordinal);
        foreach (var m in _modules)
        {
            // A package is a document even with no rules (or none defined): data.a.b is {} for `package a.b`.
            var pkg = Root;
            foreach (var p in m.Package)
            {
                if (pkg.Rules is not null) break;
                if (!pkg.Children.TryGetValue(p, out var child)) pkg.Children[p] = child = new DataNode(pkg.Path.Append(p).ToArray());
                pkg = child;
            }
            foreach (var r in m.Rules)
            {
                string[] path = [.. m.Package, r.Name, .. r.HeadPath];
                var key = string.Join('\u0001', path);
                if (!byPath.TryGetValue(key, out var set))
                {
                    set = new RuleSet(path, r.Kind) { Arity = r.Args?.Length ?? 0, Index = RuleSets.Count };
                    byPath[key] = set;
                    RuleSets.Add(set);
                    var node = Root;
                    foreach (var p in path)
                    {
                        // Only an object-producing rule set can share its place with rules below it (p[k] := v and
                        // p.q := 1): the evaluator merges the two, as OPA does.
                        if (node.Rules is { Kind: not RuleKind.PartialObject })
                        {
                            Error(RegoErrorCodes.TypeError, $"rule {node.Rules.PathText} conflicts with package or rule {set.PathText}", r.Loc);
                            break;
                        }
                        if (!node.Children.TryGetValue(p, out var child)) node.Children[p] = child = new DataNode(node.Path.Append(p).ToArray());
                        node = child;
                    }
                    if (node.Children.Count > 0 && set.Kind != RuleKind.PartialObject) Error(RegoErrorCodes.TypeError, $"rule {set.PathText} conflicts with a package of the same name", r.Loc);
                    node.Rules = set;
                }
                if (set.Kind != r.Kind)
                {
                    Error(RegoErrorCodes.TypeError, $"conflicting rules {set.PathText} found", r.Loc);
                    continue;
                }
                if (r.Kind == RuleKind.Function && (r.Args?.Length ?? 0) != set.Arity)
                {
                    Error(RegoErrorCodes.TypeError, $"function {set.PathText} has arity {r.Args?.Length ?? 0} here and {set.Arity} elsewhere", r.Loc);
                    continue;
                }
                if (r.IsDefault)
                {
                    if (set.Default is not null) Error(RegoErrorCodes.TypeError, $"multiple default rules {set.PathText} found", r.Loc);
                    set.Default = r;
                }
                else set.Rules.Add(r);
            }
        }
    }

    private void CheckDataConflicts()
    {
        if (_baseData is null) return;
        foreach (var set in RuleSets)
        {
            var v = _baseData;
            foreach (var p in set.Path)
            {
                v = v is ObjectValue o ? o.Get(p) : null;
                if (v is null) break;
            }
            if (v is not null)
                Error(RegoErrorCodes.CompileError, $"rule {set.PathText} conflicts with a base document at the same path", set.Rules.FirstOrDefault()?.Loc ?? set.Default?.Loc);
        }
    }

    private RuleSet? FindRuleSet(IEnumerable<string> path)
    {
        var node = TreeRoot;
        foreach (var p in path)
        {
            if (!node.Children.TryGetValue(p, out node!)) return null;
        }
        return node.Rules;
    }

    // ---- Stage: CheckRecursion -----------------------------------------------------------
    private void CheckRecursion()
    {
        var deps = new List<RuleSet>[RuleSets.Count];
        foreach (var set in RuleSets)
        {
            var list = new List<RuleSet>();
            IEnumerable<Rule> defs = set.Default is null ? set.Rules : set.Rules.Append(set.Default);
            foreach (var r in defs)
            {
                foreach (var t in AstWalk.DeepRule(r))
                {
                    if (t is RootTerm { IsInput: false } root) AddDataDeps(root.DataPath, list);
                    else if (t is CallTerm { Function: { } fn }) list.Add(fn);
                }
                for (var def = r; def is not null; def = def.Else)
                    foreach (var e in def.Body)
                        foreach (var w in e.Withs)
                        {
                            if (w.MockFunction is { } mock) list.Add(mock);
                            else if (!w.IsInput && w.MockTarget is null) AddDataDeps(w.DataPath, list);
                        }
            }
            deps[set.Index] = list;
        }
        var state = new int[RuleSets.Count]; // 0 new, 1 on stack, 2 done
        var stack = new List<RuleSet>();
        foreach (var s in RuleSets) Visit(s);

        void Visit(RuleSet s)
        {
            if (state[s.Index] == 2) return;
            if (state[s.Index] == 1)
            {
                var cycle = stack.Skip(stack.IndexOf(s)).Append(s).Select(x => x.PathText);
                var at = s.Rules.FirstOrDefault()?.Loc ?? s.Default?.Loc;
                Error(RegoErrorCodes.RecursionError, $"rule {s.PathText} is recursive: {string.Join(" -> ", cycle)}", at);
                return;
            }
            state[s.Index] = 1;
            stack.Add(s);
            foreach (var d in deps[s.Index])
            {
                Visit(d);
                if (_errors.Count > 0) break;
            }
            stack.RemoveAt(stack.Count - 1);
            state[s.Index] = 2;
        }
    }

    private void AddDataDeps(string[] path, List<RuleSet> into)
    {
        var node = Root;
        foreach (var p in path)
        {
            if (node.Rules is not null) break;
            if (!node.Children.TryGetValue(p, out node!)) return;
        }
        AddAll(node, into);

        static void AddAll(DataNode n, List<RuleSet> into)
        {
            if (n.Rules is not null) into.Add(n.Rules);
            foreach (var c in n.Children.Values) AddAll(c, into);
        }
    }

    // ---- Stage: FoldConstants ------------------------------------------------------------
    private void FoldConstants()
    {
        foreach (var set in RuleSets)
        {
            IEnumerable<Rule> defs = set.Default is null ? set.Rules : set.Rules.Append(set.Default);
            foreach (var r in defs)
            {
                foreach (var t in AstWalk.DeepRule(r)) Fold(t);
                for (var def = r; def is not null; def = def.Else)
                    def.ConstantHead = def.Kind is RuleKind.Complete or RuleKind.Function && (def.Value is null || ConstOf(def.Value) is not null);
            }
        }
    }

    internal static void FoldAll(IEnumerable<Term> terms)
    {
        foreach (var t in terms) Fold(t);
    }

    internal static Value? ConstOf(Term t) => t switch
    {
        ScalarTerm s => s.V,
        ArrayTerm a => a.Const,
        SetTerm s => s.Const,
        ObjectTerm o => o.Const,
        _ => null,
    };

    private static void Fold(Term t)
    {
        switch (t)
        {
            case ArrayTerm a when a.Const is null:
                foreach (var i in a.Items) Fold(i);
                if (a.Items.All(i => ConstOf(i) is not null)) a.Const = new ArrayValue(a.Items.Select(i => ConstOf(i)!).ToArray());
                break;
            case SetTerm s when s.Const is null:
                foreach (var i in s.Items) Fold(i);
                if (s.Items.All(i => ConstOf(i) is not null)) s.Const = new SetValue(s.Items.Select(i => ConstOf(i)!));
                break;
            case ObjectTerm o when o.Const is null:
                foreach (var (k, v) in o.Items)
                {
                    Fold(k);
                    Fold(v);
                }
                if (o.Items.All(i => ConstOf(i.Key) is not null && ConstOf(i.Value) is not null))
                {
                    var map = new Dictionary<Value, Value>();
                    foreach (var (k, v) in o.Items) map[ConstOf(k)!] = ConstOf(v)!;
                    o.Const = new ObjectValue(map);
                }
                break;
        }
    }

    // ---- Stage: IndexDataRefs ------------------------------------------------------------
    private void IndexDataRefs()
    {
        foreach (var set in RuleSets)
        {
            IEnumerable<Rule> defs = set.Default is null ? set.Rules : set.Rules.Append(set.Default);
            foreach (var r in defs)
                foreach (var t in AstWalk.DeepRule(r))
                    if (t is RootTerm root) IndexRoot(root);
        }
    }

    internal void IndexRoot(RootTerm root)
    {
        if (root.IsInput) return;
        var node = TreeRoot;
        for (var i = 0; i < root.DataPath.Length; i++)
        {
            if (!node.Children.TryGetValue(root.DataPath[i], out node!))
            {
                root.BaseOnly = true;
                return;
            }
            if (node.Rules is not null)
            {
                if (node.Children.Count > 0) return; // rules below an object rule set: merged when walked
                root.RuleSet = node.Rules;
                root.Rest = root.DataPath[(i + 1)..];
                return;
            }
        }
    }
}
