namespace Sandbox.Policy.Rego.GraphQl;

/// <summary>Schema documents: type system definitions and extensions (gqlparser's parser/schema.go grammar).</summary>
internal sealed partial class GqlParser
{
    private static readonly HashSet<string> DirectiveLocations =
    [
        "QUERY", "MUTATION", "SUBSCRIPTION", "FIELD", "FRAGMENT_DEFINITION", "FRAGMENT_SPREAD", "INLINE_FRAGMENT",
        "VARIABLE_DEFINITION", "SCHEMA", "SCALAR", "OBJECT", "FIELD_DEFINITION", "ARGUMENT_DEFINITION", "INTERFACE",
        "UNION", "ENUM", "ENUM_VALUE", "INPUT_OBJECT", "INPUT_FIELD_DEFINITION",
    ];

    /// <summary>A SchemaDocument: <c>Schema SchemaExtension Directives Definitions Extensions</c>.</summary>
    public GqlNode ParseSchemaDocument()
    {
        var doc = Node(Peek());
        while (Peek().Kind != GqlToken.Eof)
        {
            var description = ParseDescription();
            if (Peek().Kind != GqlToken.Name) throw Unexpected();
            switch (Peek().Value)
            {
                case "scalar" or "type" or "interface" or "union" or "enum" or "input":
                    doc.Add("Definitions", ParseTypeDefinition(description));
                    break;
                case "schema":
                    {
                        var def = Node(Next());
                        def["Description"] = description;
                        def["Directives"] = ParseDirectives(true);
                        def["OperationTypes"] = ParseOperationTypes();
                        doc.Add("Schema", def);
                        break;
                    }
                case "directive":
                    doc.Add("Directives", ParseDirectiveDefinition(description));
                    break;
                case "extend":
                    if (description != "") throw Unexpected(_t.Prev);
                    ParseExtension(doc);
                    break;
                default:
                    throw Unexpected();
            }
        }
        return doc;
    }

    private string ParseDescription() => Peek().Kind is GqlToken.String or GqlToken.BlockString ? Next().Value : "";

    private List<GqlNode> ParseOperationTypes()
    {
        var list = new List<GqlNode>();
        Some("{", "}", () =>
        {
            var op = Node(Peek());
            op["Operation"] = ParseOperationType(Next());
            Expect(":");
            op["Type"] = ParseName();
            list.Add(op);
        });
        return list;
    }

    private GqlNode ParseTypeDefinition(string description)
    {
        var keyword = Next();
        var def = Node(keyword);
        def["Kind"] = KindOf(keyword.Value);
        def["Description"] = description;
        def["Name"] = ParseName();
        def["BuiltIn"] = false;
        ParseTypeBody(def, keyword.Value, extension: false);
        return def;
    }

    private static string KindOf(string keyword) => keyword switch
    {
        "scalar" => "SCALAR",
        "type" => "OBJECT",
        "interface" => "INTERFACE",
        "union" => "UNION",
        "enum" => "ENUM",
        _ => "INPUT_OBJECT",
    };

    /// <summary>What follows a type's name; an extension must add something (gqlparser: Unexpected at the next token).</summary>
    private void ParseTypeBody(GqlNode def, string keyword, bool extension)
    {
        switch (keyword)
        {
            case "scalar":
                def["Directives"] = ParseDirectives(true);
                break;
            case "type":
                def["Interfaces"] = ParseImplements();
                def["Directives"] = ParseDirectives(true);
                def["Fields"] = ParseFields(input: false);
                break;
            case "interface":
                if (!extension) def["Interfaces"] = ParseImplements();
                def["Directives"] = ParseDirectives(true);
                def["Fields"] = ParseFields(input: false);
                break;
            case "union":
                def["Directives"] = ParseDirectives(true);
                def["Types"] = ParseUnionMembers();
                break;
            case "enum":
                def["Directives"] = ParseDirectives(true);
                var values = new List<GqlNode>();
                Some("{", "}", () =>
                {
                    var v = Node(Peek());
                    v["Description"] = ParseDescription();
                    v["Name"] = ParseName();
                    v["Directives"] = ParseDirectives(true);
                    values.Add(v);
                });
                def["EnumValues"] = values;
                break;
            default:
                def["Directives"] = ParseDirectives(true);
                def["Fields"] = ParseFields(input: true);
                break;
        }
        if (extension && def.L("Directives").Count == 0 && def.L("Fields").Count == 0 && def.Names("Interfaces").Count == 0
            && def.Names("Types").Count == 0 && def.L("EnumValues").Count == 0)
            throw Unexpected();
    }

    private List<string> ParseImplements()
    {
        var list = new List<string>();
        if (Peek().Value != "implements") return list;
        Next();
        Skip("&");
        list.Add(ParseName());
        while (Skip("&")) list.Add(ParseName());
        return list;
    }

    private List<string> ParseUnionMembers()
    {
        var list = new List<string>();
        if (!Skip("=")) return list;
        Skip("|");
        list.Add(ParseName());
        while (Skip("|")) list.Add(ParseName());
        return list;
    }

    private List<GqlNode> ParseFields(bool input)
    {
        var list = new List<GqlNode>();
        Some("{", "}", () => list.Add(input ? ParseInputValue() : ParseFieldDefinition()));
        return list;
    }

    private GqlNode ParseFieldDefinition()
    {
        var def = Node(Peek());
        def["Description"] = ParseDescription();
        def["Name"] = ParseName();
        def["Arguments"] = ParseArgumentDefinitions();
        Expect(":");
        def["Type"] = ParseTypeReference();
        def["Directives"] = ParseDirectives(true);
        return def;
    }

    private List<GqlNode> ParseArgumentDefinitions()
    {
        var list = new List<GqlNode>();
        Some("(", ")", () => list.Add(ParseInputValue()));
        return list;
    }

    /// <summary>An argument definition or an input field: name, type, default value, directives.</summary>
    private GqlNode ParseInputValue()
    {
        var def = Node(Peek());
        def["Description"] = ParseDescription();
        def["Name"] = ParseName();
        Expect(":");
        def["Type"] = ParseTypeReference();
        if (Skip("=")) def["DefaultValue"] = ParseValueLiteral(true);
        def["Directives"] = ParseDirectives(true);
        return def;
    }

    private GqlNode ParseDirectiveDefinition(string description)
    {
        var def = Node(ExpectKeyword("directive"));
        Expect("@");
        def["Description"] = description;
        def["Name"] = ParseName();
        def["Arguments"] = ParseArgumentDefinitions();
        def["IsRepeatable"] = false;
        if (Peek() is { Kind: GqlToken.Name, Value: "repeatable" })
        {
            Next();
            def["IsRepeatable"] = true;
        }
        ExpectKeyword("on");
        Skip("|");
        var locations = new List<string> { ParseDirectiveLocation() };
        while (Skip("|")) locations.Add(ParseDirectiveLocation());
        def["Locations"] = locations;
        return def;
    }

    private string ParseDirectiveLocation()
    {
        var name = Expect(GqlToken.Name);
        return DirectiveLocations.Contains(name.Value) ? name.Value : throw Unexpected(name);
    }

    private void ParseExtension(GqlNode doc)
    {
        ExpectKeyword("extend");
        var keyword = Peek();
        if (keyword.Kind != GqlToken.Name) throw Unexpected();
        switch (keyword.Value)
        {
            case "schema":
                {
                    var def = Node(Next());
                    def["Description"] = "";
                    def["Directives"] = ParseDirectives(true);
                    def["OperationTypes"] = ParseOperationTypes();
                    if (def.L("Directives").Count == 0 && def.L("OperationTypes").Count == 0) throw Unexpected();
                    doc.Add("SchemaExtension", def);
                    break;
                }
            case "scalar" or "type" or "interface" or "union" or "enum" or "input":
                {
                    Next();
                    var def = Node(keyword);
                    def["Kind"] = KindOf(keyword.Value);
                    def["Description"] = "";
                    def["Name"] = ParseName();
                    def["BuiltIn"] = false;
                    ParseTypeBody(def, keyword.Value, extension: true);
                    doc.Add("Extensions", def);
                    break;
                }
            default:
                throw Unexpected();
        }
    }
}
