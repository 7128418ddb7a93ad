namespace Sandbox.Policy.Rego.GraphQl;

/// <summary>Executable documents: operations and fragments (gqlparser's parser/query.go grammar).</summary>
internal sealed partial class GqlParser
{
    /// <summary>A QueryDocument: <c>Operations</c> and <c>Fragments</c>.</summary>
    public GqlNode ParseQueryDocument()
    {
        var doc = Node(Peek());
        while (Peek().Kind != GqlToken.Eof)
        {
            var tok = Peek();
            if (tok.Kind == "{" || (tok.Kind == GqlToken.Name && tok.Value is "query" or "mutation" or "subscription"))
                doc.Add("Operations", ParseOperationDefinition());
            else if (tok.Kind == GqlToken.Name && tok.Value == "fragment")
                doc.Add("Fragments", ParseFragmentDefinition());
            else
                throw Unexpected();
        }
        return doc;
    }

    private GqlNode ParseOperationDefinition()
    {
        var op = Node(Peek());
        if (Peek().Kind == "{")
        {
            op["Operation"] = "query";
            op["Name"] = "";
            op["SelectionSet"] = ParseRequiredSelectionSet();
            return op;
        }
        op["Operation"] = ParseOperationType(Next());
        op["Name"] = Peek().Kind == GqlToken.Name ? Next().Value : "";
        op["VariableDefinitions"] = ParseVariableDefinitions();
        op["Directives"] = ParseDirectives(false);
        op["SelectionSet"] = ParseRequiredSelectionSet();
        return op;
    }

    private List<GqlNode> ParseVariableDefinitions()
    {
        var list = new List<GqlNode>();
        Many("(", ")", () =>
        {
            var def = Node(Peek());
            def["Variable"] = ParseVariable();
            Expect(":");
            def["Type"] = ParseTypeReference();
            if (Skip("=")) def["DefaultValue"] = ParseValueLiteral(true);
            def["Directives"] = ParseDirectives(false);
            // Set by gqlparser's validator only; OPA's AST objects carry the parser's false.
            def["Used"] = false;
            list.Add(def);
        });
        return list;
    }

    private List<GqlNode> ParseRequiredSelectionSet()
    {
        if (Peek().Kind != "{") throw Error(Peek(), $"Expected {{, found {Peek().Kind}");
        return ParseSelectionSet();
    }

    private List<GqlNode> ParseSelectionSet() => Nested(() =>
    {
        var list = new List<GqlNode>();
        Some("{", "}", () => list.Add(Peek().Kind == "..." ? ParseFragment() : ParseField()));
        return list;
    });

    private GqlNode ParseField()
    {
        var field = Node(Peek());
        field["Alias"] = ParseName();
        field["Name"] = Skip(":") ? ParseName() : field["Alias"];
        field["Arguments"] = ParseArguments(false);
        field["Directives"] = ParseDirectives(false);
        if (Peek().Kind == "{") field["SelectionSet"] = ParseSelectionSet();
        return field;
    }

    private GqlNode ParseFragment()
    {
        var at = Expect("...");
        var node = Node(at);
        var peek = Peek();
        if (peek.Kind == GqlToken.Name && peek.Value != "on")
        {
            node["Name"] = ParseFragmentName();
            node["Directives"] = ParseDirectives(false);
            return node;
        }
        node["TypeCondition"] = "";
        if (Peek().Value == "on")
        {
            Next();
            node["TypeCondition"] = ParseName();
        }
        node["Directives"] = ParseDirectives(false);
        node["SelectionSet"] = ParseRequiredSelectionSet();
        return node;
    }

    private GqlNode ParseFragmentDefinition()
    {
        var def = Node(Peek());
        ExpectKeyword("fragment");
        def["Name"] = ParseFragmentName();
        def["VariableDefinition"] = ParseVariableDefinitions();
        ExpectKeyword("on");
        def["TypeCondition"] = ParseName();
        def["Directives"] = ParseDirectives(false);
        def["SelectionSet"] = ParseRequiredSelectionSet();
        return def;
    }

    private string ParseFragmentName()
    {
        if (Peek().Value == "on") throw Unexpected();
        return ParseName();
    }
}
