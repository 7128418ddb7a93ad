using Sandbox.Policy.Rego;

namespace Sandbox.Policy.Tests;

/// <summary>graphql.* errors read as OPA's: gqlparser's message, then where in which string (line:column).</summary>
public class GraphQlErrorTests
{
    public static TheoryData<string, string> Cases() => new()
    {
        { "graphql.parse_query(\"{ a(\")", "graphql.parse_query: Expected Name, found <EOF> in GraphQL string at location 1:5" },
        { "graphql.parse_query(\"query Q { a } mutation\")", "graphql.parse_query: Expected {, found <EOF> in GraphQL string at location 1:23" },
        { "graphql.parse_query(\"fragment F Q { a }\")", "graphql.parse_query: Expected \\\"on\\\", found Name \\\"Q\\\" in GraphQL string at location 1:12" },
        { "graphql.parse_query(\"{ a { } }\")", "graphql.parse_query: expected at least one definition, found } in GraphQL string at location 1:7" },
        { "graphql.parse_query(\"type T { a: Int }\")", "graphql.parse_query: Unexpected Name \\\"type\\\" in GraphQL string at location 1:1" },
        { "graphql.parse_schema(\"\\\"doc\\\" extend scalar S @d\")", "graphql.parse_schema: Unexpected String \\\"doc\\\" in GraphQL string at location 1:2" },
        { "graphql.parse_schema(\"extend enum E\")", "graphql.parse_schema: Unexpected <EOF> in GraphQL string at location 1:14" },
        { "graphql.parse_schema(\"directive @d on NOWHERE\")", "graphql.parse_schema: Unexpected Name \\\"NOWHERE\\\" in GraphQL string at location 1:17" },
        { "graphql.parse(\"{ a }\", \"type Query { a(x: Int!): Int }\")", "graphql.parse: Field \\\"a\\\" argument \\\"x\\\" of type \\\"Int!\\\" is required, but it was not provided in GraphQL query string at location 1:3" },
        { "graphql.parse(\"{\\n  b\\n}\", \"type Query { a: Int }\")", "graphql.parse: Cannot query field \\\"b\\\" on type \\\"Query\\\" in GraphQL query string at location 2:3" },
        { "graphql.parse(\"{ b: a b }\", \"type Query { a: Int b: Int }\")", "graphql.parse: Fields \\\"b\\\" conflict because a and b are different fields. Use different aliases on the fields to fetch both if this was intentional in GraphQL query string at location 1:8" },
        { "graphql.parse(\"{ a(x: 1) a(x: 2) }\", \"type Query { a(x: Int): Int }\")", "graphql.parse: Fields \\\"a\\\" conflict because they have differing arguments. Use different aliases on the fields to fetch both if this was intentional in GraphQL query string at location 1:11" },
        { "graphql.parse(\"{ pet { ... on Dog { x: size } ... on Cat { x: size } } }\", \"type Query { pet: Pet } interface Pet { name: String } type Dog implements Pet { name: String size: Int } type Cat implements Pet { name: String size: String }\")", "graphql.parse: Fields \\\"x\\\" conflict because they return conflicting types Int and String. Use different aliases on the fields to fetch both if this was intentional in GraphQL query string at location 1:45" },
        { "graphql.parse(\"{ o { a } o { a: b } }\", \"type Query { o: O } type O { a: Int b: Int }\")", "graphql.parse: Fields \\\"o\\\" conflict because subfields \\\"a\\\" conflict because a and b are different fields. Use different aliases on the fields to fetch both if this was intentional in GraphQL query string at location 1:11" },
        { "graphql.parse(\"{ a }\", \"type Query { a: Nope }\")", "graphql.parse: Undefined type Nope in GraphQL schema string at location 1:17" },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void GraphQlError_NamesTheProblemAndWhereItIs(string call, string message)
    {
        var policy = RegoBundle.FromFiles([("m.rego", $"package t\np := {call}\n")]).Compile();
        var r = policy.EvaluateJson("data.t.p", null, new EvalOptions { StrictBuiltinErrors = true });
        Assert.Equal(RegoResultKind.Error, r.Kind);
        Assert.Equal("eval_builtin_error", r.Error!.Code);
        Assert.Equal(message.Replace("\\\"", "\"", StringComparison.Ordinal), r.Error.Message);
    }

    [Fact]
    public void OverlapCheck_PastItsWorkCap_IsRefusedByName()
    {
        // 700 fields named a: 244,650 pairs, past the cap of 200,000 comparisons.
        var policy = RegoBundle.FromFiles([("m.rego", "package t\np := graphql.parse(concat(\" \", [\"{\", concat(\" \", [\"a\" | numbers.range(1, 700)[_]]), \"}\"]), \"type Query { a: Int }\")\n")]).Compile();
        var r = policy.EvaluateJson("data.t.p", null, new EvalOptions { StrictBuiltinErrors = true });
        Assert.Equal(RegoResultKind.Error, r.Kind);
        Assert.StartsWith("graphql.parse: OverlappingFieldsCanBeMerged: query too large to check (more than 200000 field comparisons) in GraphQL query string at location 1:", r.Error!.Message, StringComparison.Ordinal);
    }
}
