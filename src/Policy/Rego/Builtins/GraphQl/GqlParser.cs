namespace Sandbox.Policy.Rego.GraphQl;

/// <summary>
/// A recursive-descent parser for GraphQL queries and schemas that follows gqlparser/v2's grammar, node shapes and
/// error messages (OPA's graphql builtins expose both). The first error ends the parse, as in gqlparser.
/// </summary>
internal sealed partial class GqlParser(string source)
{
    /// <summary>Deepest nesting of selections, values and types: recursion stays far from the stack's end.</summary>
    public const int MaxDepth = 256;

    private readonly GqlTokens _t = new(source);
    private int _depth;

    /// <summary>One level deeper for the parse of <paramref name="inner"/>; a document nested past MaxDepth is an error.</summary>
    private T Nested<T>(Func<T> inner)
    {
        if (++_depth > MaxDepth) throw Error(Peek(), $"GraphQL document nested deeper than {MaxDepth} levels");
        try
        {
            return inner();
        }
        finally
        {
            _depth--;
        }
    }

    private GqlToken Peek() => _t.Peek();
    private GqlToken Next() => _t.Next();

    private bool Skip(string kind)
    {
        if (Peek().Kind != kind) return false;
        Next();
        return true;
    }

    private GqlToken Expect(string kind)
    {
        var tok = Peek();
        if (tok.Kind != kind) throw Error(tok, $"Expected {kind}, found {tok.Kind}");
        return Next();
    }

    private GqlToken ExpectKeyword(string value)
    {
        var tok = Peek();
        if (tok.Kind == GqlToken.Name && tok.Value == value) return Next();
        throw Error(tok, $"Expected \"{value}\", found {tok}");
    }

    private static GqlError Error(GqlToken at, string message) => new(message, at.Position);
    private GqlError Unexpected() => Unexpected(Peek());
    private static GqlError Unexpected(GqlToken tok) => Error(tok, $"Unexpected {tok}");

    /// <summary>Items between start and end tokens, if the start token is there (zero items allowed).</summary>
    private void Many(string start, string end, Action item)
    {
        if (!Skip(start)) return;
        while (!Skip(end)) item();
    }

    /// <summary>Items between start and end tokens, if the start token is there; at least one.</summary>
    private void Some(string start, string end, Action item)
    {
        if (!Skip(start)) return;
        if (Peek().Kind == end) throw Error(Peek(), $"expected at least one definition, found {Peek().Kind}");
        while (!Skip(end)) item();
    }

    private string ParseName() => Expect(GqlToken.Name).Value;

    private GqlNode Node(GqlToken at) => new() { Position = at.Position };

    private GqlNode ParseValueLiteral(bool isConst) => Nested(() => ParseValueLiteralCore(isConst));

    private GqlNode ParseValueLiteralCore(bool isConst)
    {
        var tok = Peek();
        int kind;
        switch (tok.Kind)
        {
            case "[":
                {
                    var list = Node(tok);
                    list["Kind"] = GqlValueKind.List;
                    list["Raw"] = "";
                    list["Children"] = new List<GqlNode>();
                    Many("[", "]", () =>
                    {
                        var child = new GqlNode { Position = Peek().Position };
                        child["Name"] = "";
                        child["Value"] = ParseValueLiteral(isConst);
                        list.Add("Children", child);
                    });
                    return list;
                }
            case "{":
                {
                    var obj = Node(tok);
                    obj["Kind"] = GqlValueKind.Object;
                    obj["Raw"] = "";
                    obj["Children"] = new List<GqlNode>();
                    Many("{", "}", () =>
                    {
                        var child = new GqlNode { Position = Peek().Position };
                        child["Name"] = ParseName();
                        Expect(":");
                        child["Value"] = ParseValueLiteral(isConst);
                        obj.Add("Children", child);
                    });
                    return obj;
                }
            case "$":
                {
                    if (isConst) throw Unexpected();
                    var v = Node(tok);
                    v["Raw"] = ParseVariable();
                    v["Kind"] = GqlValueKind.Variable;
                    return v;
                }
            case GqlToken.Int: kind = GqlValueKind.Int; break;
            case GqlToken.Float: kind = GqlValueKind.Float; break;
            case GqlToken.String: kind = GqlValueKind.String; break;
            case GqlToken.BlockString: kind = GqlValueKind.Block; break;
            case GqlToken.Name:
                kind = tok.Value switch { "true" or "false" => GqlValueKind.Boolean, "null" => GqlValueKind.Null, _ => GqlValueKind.Enum };
                break;
            default:
                throw Unexpected();
        }
        Next();
        var value = Node(tok);
        value["Raw"] = tok.Value;
        value["Kind"] = kind;
        return value;
    }

    private string ParseVariable()
    {
        Expect("$");
        return ParseName();
    }

    private List<GqlNode> ParseDirectives(bool isConst)
    {
        var list = new List<GqlNode>();
        while (Peek().Kind == "@")
        {
            var d = Node(Next());
            d["Name"] = ParseName();
            d["Arguments"] = ParseArguments(isConst);
            d["Location"] = "";
            list.Add(d);
        }
        return list;
    }

    private List<GqlNode> ParseArguments(bool isConst)
    {
        var list = new List<GqlNode>();
        Many("(", ")", () =>
        {
            var arg = Node(Peek());
            arg["Name"] = ParseName();
            Expect(":");
            arg["Value"] = ParseValueLiteral(isConst);
            list.Add(arg);
        });
        return list;
    }

    private GqlNode ParseTypeReference() => Nested(ParseTypeReferenceCore);

    private GqlNode ParseTypeReferenceCore()
    {
        var typ = Node(Peek());
        if (Skip("["))
        {
            typ["Elem"] = ParseTypeReference();
            Expect("]");
            typ["NamedType"] = "";
        }
        else typ["NamedType"] = ParseName();
        typ["NonNull"] = Skip("!");
        return typ;
    }

    private string ParseOperationType(GqlToken tok) => tok.Value is "query" or "mutation" or "subscription" && tok.Kind == GqlToken.Name
        ? tok.Value
        : throw Unexpected(tok);
}

/// <summary>gqlparser's ast.ValueKind numbers, as OPA's AST objects carry them.</summary>
internal static class GqlValueKind
{
    public const int Variable = 0, Int = 1, Float = 2, String = 3, Block = 4, Boolean = 5, Null = 6, Enum = 7, List = 8, Object = 9;
}
