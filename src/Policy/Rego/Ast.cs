namespace Sandbox.Policy.Rego;

// The AST. Every node carries its location; the compiler resolves names in place (slots, data nodes, builtins).

internal abstract class Term
{
    protected Term(RegoLocation loc) => Loc = loc;
    public RegoLocation Loc { get; }
}

internal sealed class ScalarTerm(RegoLocation loc, Value value) : Term(loc)
{
    public Value V { get; } = value;
}

internal sealed class VarTerm(RegoLocation loc, string name) : Term(loc)
{
    /// <summary>The name; the compiler renames comprehension-local variables to <c>name$N</c> so they never share a slot with an outer one.</summary>
    public string Name { get; set; } = name;
    /// <summary>The name as written in the source (without the compiler's <c>$N</c> suffix).</summary>
    public string SourceName => SourceNameOf(Name);
    public static string SourceNameOf(string name) =>
        name.StartsWith("$_", StringComparison.Ordinal) ? "_" : name.IndexOf('$') is var i and > 0 ? name[..i] : name;
    /// <summary>Local slot, assigned by the compiler; -1 while unresolved.</summary>
    public int Slot { get; set; } = -1;
    public bool IsWildcard => Name.StartsWith("$_", StringComparison.Ordinal);
}

/// <summary><c>input</c> or a path under <c>data</c>, produced by name resolution.</summary>
internal sealed class RootTerm(RegoLocation loc, bool isInput, string[] dataPath) : Term(loc)
{
    public bool IsInput { get; } = isInput;
    public string[] DataPath { get; } = dataPath;
    /// <summary>Fast path set by the compiler: the rule set this path reaches, and the path below it.</summary>
    public RuleSet? RuleSet { get; set; }
    public string[] Rest { get; set; } = [];
    /// <summary>True when the path cannot reach any rule (pure base data).</summary>
    public bool BaseOnly { get; set; }
}

/// <summary>A node of the virtual document tree under <c>data</c>: packages and rule sets.</summary>
internal sealed class DataNode(string[] path)
{
    public string[] Path { get; } = path;
    public Dictionary<string, DataNode> Children { get; } = new(StringComparer.Ordinal);
    public RuleSet? Rules { get; set; }
}

internal sealed class RefTerm(RegoLocation loc, Term head, Term[] path) : Term(loc)
{
    public Term Head { get; set; } = head;
    public Term[] Path { get; set; } = path;
}

internal sealed class CallTerm(RegoLocation loc, string[] name, Term[] args) : Term(loc)
{
    public string[] Name { get; } = name;
    public Term[] Args { get; } = args;
    public Builtin? Builtin { get; set; }
    public string[]? FunctionPath { get; set; }
    public RuleSet? Function { get; set; }
    /// <summary>Set by resolution when the call has one argument more than the function: <c>f(x, out)</c> binds or tests its result.</summary>
    public bool OutputArg { get; set; }
    public string DisplayName => string.Join('.', Name);
}

internal sealed class ArrayTerm(RegoLocation loc, Term[] items) : Term(loc)
{
    public Term[] Items { get; } = items;
    public Value? Const { get; set; }
}

internal sealed class SetTerm(RegoLocation loc, Term[] items) : Term(loc)
{
    public Term[] Items { get; } = items;
    public Value? Const { get; set; }
}

internal sealed class ObjectTerm(RegoLocation loc, (Term Key, Term Value)[] items) : Term(loc)
{
    public (Term Key, Term Value)[] Items { get; } = items;
    public Value? Const { get; set; }
}

internal enum ComprehensionKind { Array, Set, Object }

internal sealed class ComprehensionTerm(RegoLocation loc, ComprehensionKind kind, Term head, Term? value, Expr[] body) : Term(loc)
{
    public ComprehensionKind Kind { get; } = kind;
    public Term Head { get; } = head;
    public Term? ValueTerm { get; } = value;
    public Expr[] Body { get; set; } = body;
}

internal sealed class WithModifier(RegoLocation loc, Term target, Term value)
{
    public RegoLocation Loc { get; } = loc;
    public Term Target { get; } = target;
    public Term Value { get; set; } = value;
    public bool IsInput { get; set; }
    public string[] DataPath { get; set; } = [];
    /// <summary>Set when the target is a function: the builtin's name or the user function's path (<c>data.p.f</c>).</summary>
    public string? MockTarget { get; set; }
    /// <summary>The replacement when it is a builtin or user function; otherwise <see cref="Value"/> is the value calls return.</summary>
    public Builtin? MockBuiltin { get; set; }
    public RuleSet? MockFunction { get; set; }
}

internal abstract class Expr
{
    protected Expr(RegoLocation loc) => Loc = loc;
    public RegoLocation Loc { get; }
    public bool Negated { get; set; }
    public WithModifier[] Withs { get; set; } = [];
    /// <summary>The parsed expression this one was rewritten from (output-argument calls), for query results.</summary>
    public Expr? Origin { get; init; }
    /// <summary>The source text of the expression (for query results).</summary>
    public string Text { get; set; } = "";
}

internal sealed class TermExpr(RegoLocation loc, Term term) : Expr(loc)
{
    public Term Term { get; set; } = term;
}

internal sealed class AssignExpr(RegoLocation loc, Term left, Term right) : Expr(loc)
{
    /// <summary>
    /// A compiler temporary (a call hoisted out of `not`): assigned once, read only by the next expression, so the
    /// evaluator may overwrite its slot without restoring it on backtracking.
    /// </summary>
    public bool IsTemp { get; init; }
    public Term Left { get; set; } = left;
    public Term Right { get; set; } = right;
}

internal sealed class UnifyExpr(RegoLocation loc, Term left, Term right) : Expr(loc)
{
    public Term Left { get; set; } = left;
    public Term Right { get; set; } = right;
}

internal sealed class SomeDeclExpr(RegoLocation loc, VarTerm[] vars) : Expr(loc)
{
    public VarTerm[] Vars { get; } = vars;
}

internal sealed class SomeInExpr(RegoLocation loc, Term? key, Term value, Term collection) : Expr(loc)
{
    public Term? Key { get; set; } = key;
    public Term Value { get; set; } = value;
    public Term Collection { get; set; } = collection;
}

internal sealed class EveryExpr(RegoLocation loc, VarTerm? key, VarTerm value, Term collection, Expr[] body) : Expr(loc)
{
    public VarTerm? Key { get; } = key;
    public VarTerm Value { get; } = value;
    public Term Collection { get; set; } = collection;
    public Expr[] Body { get; set; } = body;
}

internal enum RuleKind { Complete, PartialSet, PartialObject, Function }

internal sealed class Rule(RegoLocation loc, string name, RuleKind kind)
{
    public RegoLocation Loc { get; } = loc;
    public string Name { get; } = name;
    public RuleKind Kind { get; set; } = kind;
    public bool IsDefault { get; set; }
    public Term[]? Args { get; set; }
    public Term? Key { get; set; }
    /// <summary>Names after the first in a ref head (<c>a.b.c := 1</c>: b, c); the rule lives at package + Name + HeadPath.</summary>
    public string[] HeadPath { get; set; } = [];
    /// <summary>True when <see cref="Key"/> is an array of keys, one per object level (<c>p[a][b] := v</c>).</summary>
    public bool KeyIsPath { get; set; }
    /// <summary>True for <c>p[k] contains v</c>: the leaves at the keys are sets collecting <see cref="Value"/>.</summary>
    public bool LeafIsSet { get; set; }
    /// <summary>Head value; null means <c>true</c>.</summary>
    public Term? Value { get; set; }
    public Expr[] Body { get; set; } = [];
    public Rule? Else { get; set; }
    public int SlotCount { get; set; }
    public Module Module { get; set; } = null!;
    /// <summary>True when the head value is ground, so the first solution decides (OPA's early exit).</summary>
    public bool ConstantHead { get; set; }
}

internal sealed class Module(string file, string[] package)
{
    public string File { get; } = file;
    public string[] Package { get; } = package;
    public Dictionary<string, Term> Imports { get; } = new(StringComparer.Ordinal);
    public List<Rule> Rules { get; } = [];
}

/// <summary>All definitions of one rule name in one package.</summary>
internal sealed class RuleSet(string[] path, RuleKind kind)
{
    public string[] Path { get; } = path;
    private string? _pathText;
    public string PathText => _pathText ??= "data." + string.Join('.', Path);
    public RuleKind Kind { get; } = kind;
    public List<Rule> Rules { get; } = [];
    public Rule? Default { get; set; }
    public int Arity { get; set; }
    public int Index { get; set; }
}
