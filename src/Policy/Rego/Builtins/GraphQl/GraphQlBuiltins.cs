namespace Sandbox.Policy.Rego.GraphQl;

/// <summary>
/// OPA's graphql.* builtins: parse_query, parse_schema, parse, parse_and_verify, is_valid and schema_is_valid. A query
/// or schema is GraphQL text or an AST object as parse_query/parse_schema return it; errors read as OPA's
/// (gqlparser's message, then "in GraphQL string|schema string|query string at location L:C").
/// </summary>
internal static class GraphQlBuiltins
{
    public static void Register(BuiltinTable t)
    {
        t.Register("graphql.parse_query", 1, (a, _) => GqlAst.ToValue(ParseQuery(Text(a, 0, "graphql.parse_query"), "graphql.parse_query")));
        t.Register("graphql.parse_schema", 1, (a, _) => GqlAst.ToValue(ParseSchema(Text(a, 0, "graphql.parse_schema"), "graphql.parse_schema")));
        t.Register("graphql.parse", 2, (a, _) =>
        {
            const string fn = "graphql.parse";
            var (query, schemaDoc) = Verified(a, fn);
            return new ArrayValue([GqlAst.ToValue(query), GqlAst.ToValue(schemaDoc)]);
        });
        t.Register("graphql.parse_and_verify", 2, (a, _) =>
        {
            try
            {
                var (query, schemaDoc) = Verified(a, "graphql.parse_and_verify");
                return new ArrayValue([Value.True, GqlAst.ToValue(query), GqlAst.ToValue(schemaDoc)]);
            }
            catch (BuiltinTypeException)
            {
                throw;
            }
            catch (BuiltinException)
            {
                return new ArrayValue([Value.False, Value.EmptyObject, Value.EmptyObject]);
            }
        });
        t.Register("graphql.is_valid", 2, (a, _) => Valid(() => Verified(a, "graphql.is_valid")));
        t.Register("graphql.schema_is_valid", 1, (a, _) => Valid(() =>
        {
            const string fn = "graphql.schema_is_valid";
            Load(ParseSchema(Text(a, 0, fn), fn), fn);
            return default;
        }));
    }

    private static Value Valid(Func<(GqlNode, GqlNode)> check)
    {
        try
        {
            check();
            return Value.True;
        }
        catch (BuiltinTypeException)
        {
            throw;
        }
        catch (BuiltinException)
        {
            return Value.False;
        }
    }

    /// <summary>A query and a schema, both parsed, the schema loaded and the query validated against it.</summary>
    private static (GqlNode Query, GqlNode Schema) Verified(Value[] a, string fn)
    {
        var query = ParseQuery(Text(a, 0, fn), fn);
        var schemaDoc = ParseSchema(Text(a, 1, fn), fn);
        var schema = Load(schemaDoc, fn);
        if (GqlValidator.Validate(schema, query) is { } err) throw Failure(fn, err, "GraphQL query string");
        return (query, schemaDoc);
    }

    /// <summary>GraphQL text, or an AST object (kept as the node it describes).</summary>
    private static object Text(Value[] a, int i, string fn) => a[i] switch
    {
        StringValue s => s.V,
        ObjectValue o => GqlAst.FromValue(o),
        _ => throw new BuiltinTypeException($"{fn}: operand {i + 1} must be one of {{object, string}} but got {Value.TypeName(a[i])}"),
    };

    private static GqlNode ParseQuery(object text, string fn)
    {
        if (text is GqlNode node) return node;
        try
        {
            return new GqlParser((string)text).ParseQueryDocument();
        }
        catch (GqlError e)
        {
            throw Failure(fn, e, "GraphQL string");
        }
    }

    private static GqlNode ParseSchema(object text, string fn)
    {
        if (text is GqlNode node) return node;
        try
        {
            return new GqlParser((string)text).ParseSchemaDocument();
        }
        catch (GqlError e)
        {
            throw Failure(fn, e, "GraphQL string");
        }
    }

    private static GqlSchema Load(GqlNode doc, string fn)
    {
        try
        {
            return GqlSchema.Load(doc);
        }
        catch (GqlError e)
        {
            throw Failure(fn, e, "GraphQL schema string");
        }
    }

    /// <summary>OPA's wording: gqlparser's message without its closing period, then where it is.</summary>
    private static BuiltinException Failure(string fn, GqlError e, string where) =>
        new($"{fn}: {(where == "GraphQL string" ? e.Message : e.Message.TrimEnd('.'))} in {where} at location {e.Position.Line}:{e.Position.Column}");
}
