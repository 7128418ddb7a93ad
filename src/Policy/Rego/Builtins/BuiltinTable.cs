namespace Sandbox.Policy.Rego;

/// <summary>What a builtin sees besides its arguments.</summary>
internal sealed class BuiltinContext(EvalOptions options)
{
    public EvalOptions Options { get; } = options;
    private long? _now;

    /// <summary>time.now_ns is fixed for one evaluation, as in OPA.</summary>
    public long NowNs => _now ??= (Options.TimeProvider ?? TimeProvider.System).GetUtcNow().ToUnixTimeMilliseconds() * 1_000_000;

    /// <summary>rand.intn's values, one per (string, n) for the evaluation, as OPA caches them per query.</summary>
    public Dictionary<(string, long), long> RandomInts => _randomInts ??= [];
    private Dictionary<(string, long), long>? _randomInts;
}

internal delegate Value? BuiltinFn(Value[] args, BuiltinContext ctx);

/// <summary>One builtin, declared once: the name and arity feed the compiler's checks and the interpreter.</summary>
internal sealed class Builtin(string name, int arity, BuiltinFn fn, bool requiresCapability)
{
    public string Name { get; } = name;
    public int Arity { get; } = arity;
    public BuiltinFn Fn { get; } = fn;
    /// <summary>Off unless the compile options enable it (non-deterministic or I/O-like builtins).</summary>
    public bool RequiresCapability { get; } = requiresCapability;
}

/// <summary>A builtin failed (bad operand types, parse errors...). Undefined unless strict builtin errors are on.</summary>
internal class BuiltinException(string message) : Exception(message);

/// <summary>An operand of the wrong type: OPA reports it as <c>eval_type_error</c>, not <c>eval_builtin_error</c>.</summary>
internal sealed class BuiltinTypeException(string message) : BuiltinException(message);

/// <summary>The registered builtins. Each family registers itself; the table is immutable once built.</summary>
internal sealed class BuiltinTable
{
    private readonly Dictionary<string, Builtin> _byName = new(StringComparer.Ordinal);

    public static BuiltinTable Default { get; } = CreateDefault();

    public void Register(string name, int arity, BuiltinFn fn, bool requiresCapability = false) =>
        _byName.Add(name, new Builtin(name, arity, fn, requiresCapability));

    public bool TryGet(string name, out Builtin builtin) => _byName.TryGetValue(name, out builtin!);

    public IEnumerable<Builtin> All => _byName.Values;

    private static BuiltinTable CreateDefault()
    {
        var t = new BuiltinTable();
        OperatorBuiltins.Register(t);
        AggregateBuiltins.Register(t);
        StringBuiltins.Register(t);
        PatternBuiltins.Register(t);
        CollectionBuiltins.Register(t);
        TypeBuiltins.Register(t);
        EncodingBuiltins.Register(t);
        NetBuiltins.Register(t);
        UnitsBuiltins.Register(t);
        TimeBuiltins.Register(t);
        SemverBuiltins.Register(t);
        JsonPathBuiltins.Register(t);
        BitsBuiltins.Register(t);
        CryptoBuiltins.Register(t);
        RuntimeBuiltins.Register(t);
        JwtBuiltins.Register(t);
        WalkBuiltin.Register(t);
        JsonPatchBuiltin.Register(t);
        UuidBuiltins.Register(t);
        GlobIntersection.Register(t);
        TemplateBuiltin.Register(t);
        YamlMarshalBuiltin.Register(t);
        GraphBuiltins.Register(t);
        GraphQl.GraphQlBuiltins.Register(t);
        AwsSignBuiltin.Register(t);
        X509Builtins.Register(t);
        JsonSchemaBuiltins.Register(t);
        PrintBuiltin.Register(t);
        RandBuiltins.Register(t);
        return t;
    }

    // Argument helpers shared by the families: they throw BuiltinException with OPA-like messages.
    internal static string Str(Value[] a, int i, string fn) =>
        a[i] is StringValue s ? s.V : throw new BuiltinTypeException($"{fn}: operand {i + 1} must be string but got {Value.TypeName(a[i])}");

    internal static double Num(Value[] a, int i, string fn) =>
        a[i] is NumberValue n ? NumberArithmetic.Finite(n.V, fn) : throw new BuiltinTypeException($"{fn}: operand {i + 1} must be number but got {Value.TypeName(a[i])}");

    internal static NumberValue Number(Value[] a, int i, string fn) =>
        a[i] as NumberValue ?? throw new BuiltinTypeException($"{fn}: operand {i + 1} must be number but got {Value.TypeName(a[i])}");

    internal static System.Numerics.BigInteger BigInt(Value[] a, int i, string fn) =>
        a[i] is NumberValue n && n.TryGetBig(out var b) ? b : throw new BuiltinTypeException($"{fn}: operand {i + 1} must be integer number but got {a[i]}");

    internal static long Int(Value[] a, int i, string fn) =>
        a[i] is NumberValue n && n.TryGetInt(out var l) ? l : throw new BuiltinTypeException($"{fn}: operand {i + 1} must be integer number but got {a[i]}");

    internal static ObjectValue Obj(Value[] a, int i, string fn) =>
        a[i] as ObjectValue ?? throw new BuiltinTypeException($"{fn}: operand {i + 1} must be object but got {Value.TypeName(a[i])}");

    internal static SetValue Set(Value[] a, int i, string fn) =>
        a[i] as SetValue ?? throw new BuiltinTypeException($"{fn}: operand {i + 1} must be set but got {Value.TypeName(a[i])}");

    internal static ArrayValue Arr(Value[] a, int i, string fn) =>
        a[i] as ArrayValue ?? throw new BuiltinTypeException($"{fn}: operand {i + 1} must be array but got {Value.TypeName(a[i])}");

    /// <summary>Elements of an array or set (in order), for builtins that accept either.</summary>
    internal static IReadOnlyList<Value> Elems(Value[] a, int i, string fn) => a[i] switch
    {
        ArrayValue arr => arr.Items,
        SetValue s => s.Sorted,
        _ => throw new BuiltinTypeException($"{fn}: operand {i + 1} must be one of {{array, set}} but got {Value.TypeName(a[i])}"),
    };
}
