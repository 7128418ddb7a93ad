using Sandbox.Policy.Rego;
using YamlDotNet.RepresentationModel;

namespace Sandbox.Policy.Tests;

/// <summary>Runs Cases/*.yaml: one construct or builtin per case (note, modules, data, input, query, want | undefined | error).</summary>
public class CaseTests
{
    public sealed record Case(string File, string Note, string[] Modules, string? Data, string? Input, string Query, string? Want, bool Undefined, string? Error, bool Strict)
    {
        public override string ToString() => $"{File}: {Note}";
    }

    public static TheoryData<Case> All()
    {
        var data = new TheoryData<Case>();
        foreach (var file in Directory.GetFiles(Path.Combine(AppContext.BaseDirectory, "Cases"), "*.yaml").Order(StringComparer.Ordinal))
        {
            var stream = new YamlStream();
            stream.Load(new StringReader(File.ReadAllText(file)));
            foreach (var node in ((YamlSequenceNode)stream.Documents[0].RootNode).Children.Cast<YamlMappingNode>())
            {
                string? Get(string key) => node.Children.TryGetValue(new YamlScalarNode(key), out var v) ? ((YamlScalarNode)v).Value : null;
                var modules = node.Children.TryGetValue(new YamlScalarNode("modules"), out var m)
                    ? ((YamlSequenceNode)m).Children.Select(c => ((YamlScalarNode)c).Value!).ToArray()
                    : [];
                data.Add(new Case(Path.GetFileName(file), Get("note")!, modules, Get("data"), Get("input"), Get("query")!, Get("want"),
                    Get("undefined") == "true", Get("error"), Get("strict") == "true"));
            }
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(All))]
    public void Case_GivesExpectedResult(Case c)
    {
        RegoEvalResult result;
        try
        {
            var policy = RegoBundle.FromFiles(c.Modules.Select((text, i) => ($"m{i}.rego", text)), c.Data).Compile();
            result = policy.EvaluateJson(c.Query, c.Input, new EvalOptions { StrictBuiltinErrors = c.Strict });
        }
        catch (RegoCompileException e)
        {
            Assert.True(c.Error is not null, $"unexpected compile error: {e.Message}");
            Assert.Contains(e.Errors, err => err.Code == c.Error);
            Assert.All(e.Errors, err => Assert.NotNull(err.Location));
            return;
        }
        if (c.Error is not null)
        {
            Assert.True(result.Kind == RegoResultKind.Error, $"expected {c.Error}, got {result}");
            Assert.Equal(c.Error, result.Error!.Code);
        }
        else if (c.Undefined)
        {
            Assert.True(result.Kind == RegoResultKind.Undefined, $"expected undefined, got {result}");
        }
        else
        {
            Assert.True(result.Kind == RegoResultKind.Defined, $"expected {c.Want}, got {result}");
            Assert.Equal(ValueJson.Parse(c.Want!).ToJson(), result.ValueJson);
        }
    }
}
