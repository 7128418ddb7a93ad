namespace Sandbox.Policy.Rego.GraphQl;

/// <summary>
/// One node of a GraphQL document in the shape of Go's gqlparser/v2 AST (the field names OPA's graphql builtins
/// expose as JSON): a field map whose values are strings, booleans, ints, nodes or lists. Kept untyped so the same
/// node reads from source text and from an AST object a policy passes back in.
/// </summary>
internal sealed class GqlNode
{
    private readonly Dictionary<string, object?> _fields = new(StringComparer.Ordinal);

    /// <summary>Where the node starts in its source (line, column from 1); (0, 0) for a node read from an AST object.</summary>
    public (int Line, int Column) Position { get; init; }

    public IEnumerable<KeyValuePair<string, object?>> Fields => _fields;

    public object? this[string key]
    {
        get => _fields.GetValueOrDefault(key);
        set => _fields[key] = value;
    }

    public string S(string key) => this[key] as string ?? "";
    public bool B(string key) => this[key] is true;
    public GqlNode? N(string key) => this[key] as GqlNode;
    public List<GqlNode> L(string key) => this[key] as List<GqlNode> ?? [];
    public List<string> Names(string key) => this[key] as List<string> ?? [];

    /// <summary>A list of nodes, appended to in place (created on first use).</summary>
    public List<GqlNode> Add(string key, GqlNode node)
    {
        if (this[key] is not List<GqlNode> list) this[key] = list = [];
        list.Add(node);
        return list;
    }
}
