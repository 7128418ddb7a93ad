using System.Collections.Concurrent;
using System.Text.Json.Nodes;

namespace Sandbox.Policy.Rego;

public enum RegoResultKind { Defined, Undefined, Error }

/// <summary>The outcome of evaluating a query: a defined value, undefined, or an error (never an exception).</summary>
public sealed class RegoEvalResult
{
    private RegoEvalResult(RegoResultKind kind, Value? value, RegoError? error)
    {
        Kind = kind;
        RawValue = value;
        Error = error;
    }

    public RegoResultKind Kind { get; }
    public RegoError? Error { get; }
    internal Value? RawValue { get; }
    public bool IsDefined => Kind == RegoResultKind.Defined;

    /// <summary>The value as JSON (sets as sorted arrays, object keys sorted); null when undefined or on error.</summary>
    public JsonNode? Value => RawValue is null ? null : Rego.ValueJson.ToNode(RawValue);

    /// <summary>True when the value is the boolean false (a failed <c>test_</c> rule).</summary>
    public bool IsFalse => RawValue is BoolValue { V: false };

    /// <summary>The value printed as OPA prints it (compact).</summary>
    public string? ValueJson => RawValue?.ToJson();

    internal static RegoEvalResult Defined(Value v) => new(RegoResultKind.Defined, v, null);
    internal static RegoEvalResult Undefined { get; } = new(RegoResultKind.Undefined, null, null);
    internal static RegoEvalResult Failed(RegoError e) => new(RegoResultKind.Error, null, e);

    public override string ToString() => Kind switch
    {
        RegoResultKind.Defined => ValueJson!,
        RegoResultKind.Undefined => "undefined",
        _ => Error!.ToString(),
    };
}

/// <summary>One solution of a query: each expression's value (in query order) and the variable bindings.</summary>
public sealed class RegoSolution
{
    internal RegoSolution(List<(Value Value, string Text, RegoLocation Loc)> exprs, List<(string Name, Value Value)> bindings)
    {
        Exprs = exprs;
        BindingValues = bindings;
    }

    internal List<(Value Value, string Text, RegoLocation Loc)> Exprs { get; }
    internal List<(string Name, Value Value)> BindingValues { get; }

    /// <summary>Each expression of the query: its value, source text and location (what <c>opa eval</c> prints).</summary>
    public IReadOnlyList<RegoExpression> Expressions => Exprs.Select(e => new RegoExpression(ValueJson.ToNode(e.Value), e.Text, e.Loc)).ToList();
    public IReadOnlyDictionary<string, JsonNode?> Bindings => BindingValues.ToDictionary(b => b.Name, b => ValueJson.ToNode(b.Value), StringComparer.Ordinal);
}

/// <summary>One expression of a query solution.</summary>
public sealed record RegoExpression(JsonNode? Value, string Text, RegoLocation Location);

/// <summary>All solutions of a query, or the error that stopped it.</summary>
public sealed class RegoQueryResult
{
    internal RegoQueryResult(IReadOnlyList<RegoSolution> solutions, RegoError? error)
    {
        Solutions = solutions;
        Error = error;
    }

    public IReadOnlyList<RegoSolution> Solutions { get; }
    public RegoError? Error { get; }
}

/// <summary>A compiled bundle. Immutable; <see cref="Evaluate"/> is thread-safe.</summary>
public sealed class CompiledPolicy
{
    private const int MaxCachedQueries = 256;
    private const int MaxQueryLength = 64 * 1024;

    private readonly Compiler _compiler;
    private readonly ConcurrentDictionary<string, CompiledQuery> _queries = new(StringComparer.Ordinal);

    private CompiledPolicy(Compiler compiler, PolicyProgram program, string? revision, IReadOnlyList<string> roots)
    {
        _compiler = compiler;
        Program = program;
        Revision = revision;
        Roots = roots;
    }

    public string? Revision { get; }
    public IReadOnlyList<string> Roots { get; }
    internal PolicyProgram Program { get; }

    /// <summary>Full paths of the rules named <c>test_*</c> (for <c>sandbox policy test</c>).</summary>
    public IReadOnlyList<string> TestRules => _compiler.RuleSets
        .Where(s => s.Path[^1].StartsWith("test_", StringComparison.Ordinal) && s.Kind == RuleKind.Complete)
        .Select(s => s.PathText).ToList();

    internal static CompiledPolicy Create(RegoBundle bundle, RegoCompileOptions options)
    {
        var errors = new List<RegoError>();
        var modules = new List<Module>();
        if (bundle.Modules.Count > options.MaxModules)
            throw new RegoCompileException([new RegoError(RegoErrorCodes.BundleError, $"bundle has {bundle.Modules.Count} modules, more than the limit of {options.MaxModules}")]);
        foreach (var (name, text) in bundle.Modules)
        {
            if (text.Length > options.MaxSourceBytes)
            {
                errors.Add(new RegoError(RegoErrorCodes.ParseError, $"module is {text.Length} bytes, more than the limit of {options.MaxSourceBytes}", new RegoLocation(name, 1, 1)));
                continue;
            }
            try
            {
                var m = new Parser(name, text).ParseModule();
                var pkg = string.Join('/', m.Package);
                if (!bundle.Roots.Any(r => r.Length == 0 || pkg == r || pkg.StartsWith(r.TrimEnd('/') + "/", StringComparison.Ordinal)))
                    errors.Add(new RegoError(RegoErrorCodes.BundleError, $"package {string.Join('.', m.Package)} is outside the manifest roots [{string.Join(", ", bundle.Roots)}]", new RegoLocation(name, 1, 1)));
                modules.Add(m);
            }
            catch (RegoException e)
            {
                errors.Add(e.Error);
            }
            if (errors.Count >= RegoCompileException.MaxErrors) break;
        }
        if (errors.Count > 0) throw new RegoCompileException(errors);
        var compiler = new Compiler(modules, options, bundle.BaseData);
        compiler.Run();
        var program = new PolicyProgram(compiler.Root, bundle.BaseData, compiler.RuleSets.Count);
        return new CompiledPolicy(compiler, program, bundle.Revision, bundle.Roots);
    }

    /// <summary>Evaluates a query and returns the value of its first expression in its first solution.</summary>
    public RegoEvalResult Evaluate(string query, JsonNode? input, EvalOptions? options = null)
    {
        Value? inputValue;
        try
        {
            inputValue = input is null ? null : ValueJson.FromNode(input);
        }
        catch (RegoException e)
        {
            return RegoEvalResult.Failed(e.Error);
        }
        return Evaluate(query, inputValue, options ?? EvalOptions.Default);
    }

    /// <summary>Evaluates with an already parsed input document (null: no input).</summary>
    public RegoEvalResult Evaluate(string query, RegoInput? input, EvalOptions? options = null) =>
        Evaluate(query, input?.Value, options ?? EvalOptions.Default);

    /// <summary>All solutions of a query with an already parsed input document (null: no input).</summary>
    public RegoQueryResult Query(string query, RegoInput? input, EvalOptions? options = null) =>
        Query(query, input?.Value, options ?? EvalOptions.Default);

    /// <summary>Evaluates with the input given as JSON text (parsed with depth limits).</summary>
    public RegoEvalResult EvaluateJson(string query, string? inputJson, EvalOptions? options = null)
    {
        Value? inputValue;
        try
        {
            inputValue = inputJson is null ? null : ValueJson.Parse(inputJson);
        }
        catch (RegoException e)
        {
            return RegoEvalResult.Failed(e.Error);
        }
        return Evaluate(query, inputValue, options ?? EvalOptions.Default);
    }

    internal RegoEvalResult Evaluate(string query, Value? input, EvalOptions options)
    {
        try
        {
            var q = GetQuery(query);
            var interp = new Interpreter(Program, input, options);
            var frame = new Value?[q.SlotCount];
            Value? result = null;
            interp.EvalQuery(frame, q.Body, 0, new Value?[q.Body.Length], q.OriginalIndex, vals =>
            {
                result = vals[0];
                return false;
            });
            return result is null ? RegoEvalResult.Undefined : RegoEvalResult.Defined(result);
        }
        catch (RegoCompileException e)
        {
            return RegoEvalResult.Failed(e.Errors[0]);
        }
        catch (RegoException e)
        {
            return RegoEvalResult.Failed(e.Error);
        }
        catch (InsufficientExecutionStackException)
        {
            return RegoEvalResult.Failed(new RegoError(RegoErrorCodes.DepthExceeded, "evaluation nested too deeply"));
        }
    }

    /// <summary>All solutions of a query, as <c>opa eval</c> reports them.</summary>
    public RegoQueryResult Query(string query, JsonNode? input, EvalOptions? options = null)
    {
        try
        {
            return Query(query, input is null ? null : ValueJson.FromNode(input), options ?? EvalOptions.Default);
        }
        catch (RegoException e)
        {
            return new RegoQueryResult([], e.Error);
        }
    }

    internal RegoQueryResult Query(string query, Value? input, EvalOptions options)
    {
        try
        {
            var q = GetQuery(query);
            var interp = new Interpreter(Program, input, options);
            var frame = new Value?[q.SlotCount];
            var solutions = new List<RegoSolution>();
            interp.EvalQuery(frame, q.Body, 0, new Value?[q.Body.Length], q.OriginalIndex, vals =>
            {
                var exprs = new List<(Value, string, RegoLocation)>();
                for (var i = 0; i < q.Original.Length; i++) exprs.Add((vals[i] ?? Value.True, q.Original[i].Text, q.Original[i].Loc));
                var bindings = q.Bindings.Where(b => frame[b.Slot] is not null).Select(b => (b.Name, frame[b.Slot]!)).ToList();
                solutions.Add(new RegoSolution(exprs, bindings));
                return solutions.Count < 10_000;
            });
            return new RegoQueryResult(solutions, null);
        }
        catch (RegoCompileException e)
        {
            return new RegoQueryResult([], e.Errors[0]);
        }
        catch (RegoException e)
        {
            return new RegoQueryResult([], e.Error);
        }
        catch (InsufficientExecutionStackException)
        {
            return new RegoQueryResult([], new RegoError(RegoErrorCodes.DepthExceeded, "evaluation nested too deeply"));
        }
    }

    /// <summary>Parses and compiles a query once (cached); throws <see cref="RegoCompileException"/>.</summary>
    internal CompiledQuery GetQuery(string query)
    {
        if (_queries.TryGetValue(query, out var q)) return q;
        if (query.Length > MaxQueryLength)
            throw new RegoCompileException([new RegoError(RegoErrorCodes.ParseError, $"query is longer than {MaxQueryLength} characters")]);
        Expr[] body;
        try
        {
            body = new Parser("query", query).ParseQuery();
        }
        catch (RegoException e)
        {
            throw new RegoCompileException([e.Error]);
        }
        var original = body.ToArray();
        var compiler = _compiler.ForQuery();
        compiler.ResolveQuery(body, new Module("query", []));
        var slots = compiler.CompileQueryBody(ref body);
        var index = body.Select(e => Array.IndexOf(original, e.Origin ?? e)).ToArray();
        var names = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var e in body)
            foreach (var t in AstWalk.DeepExpr(e))
                if (t is VarTerm v && !v.IsWildcard && !v.Name.Contains('$', StringComparison.Ordinal)) names.TryAdd(v.Name, v.Slot);
        q = new CompiledQuery(body, slots, index, original, names.OrderBy(n => n.Key, StringComparer.Ordinal).Select(n => (n.Key, n.Value)).ToArray());
        if (_queries.Count >= MaxCachedQueries) _queries.Clear();
        _queries[query] = q;
        return q;
    }
}

internal sealed record CompiledQuery(Expr[] Body, int SlotCount, int[] OriginalIndex, Expr[] Original, (string Name, int Slot)[] Bindings);
