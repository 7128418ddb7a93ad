using Sandbox.CiRunner.Expressions;
using Sandbox.CiRunner.Scheduling;
using Sandbox.CiRunner.Workflow;
using YamlDotNet.RepresentationModel;

namespace Sandbox.CiRunner.Tests;

public sealed class MatrixTests
{
    private static ExprValue Yaml(string yaml)
    {
        var s = new YamlStream();
        s.Load(new StringReader(yaml));
        return WorkflowParser.ToValue(s.Documents[0].RootNode);
    }

    private static List<string> Legs(string yaml) =>
        MatrixExpander.Expand(Yaml(yaml)).Select(c => string.Join(",", c.Select(p => $"{p.Key}={p.Value.ToDisplayString()}"))).ToList();

    [Fact]
    public void The_first_key_is_the_outermost_loop() =>
        Assert.Equal(["os=a,v=1", "os=a,v=2", "os=b,v=1", "os=b,v=2"], Legs("{ os: [a, b], v: [1, 2] }"));

    [Fact]
    public void The_documented_include_example_gives_six_jobs()
    {
        // GitHub's docs: fruit×animal, then {color: green} everywhere, {color: pink, animal: cat} extends the cats,
        // {fruit: apple, shape: circle} extends the apples, {fruit: banana} and {fruit: banana, animal: cat} are new.
        var legs = Legs("""
            fruit: [apple, pear]
            animal: [cat, dog]
            include:
              - color: green
              - color: pink
                animal: cat
              - fruit: apple
                shape: circle
              - fruit: banana
              - fruit: banana
                animal: cat
            """);
        Assert.Equal([
            "fruit=apple,animal=cat,color=pink,shape=circle",
            "fruit=apple,animal=dog,color=green,shape=circle",
            "fruit=pear,animal=cat,color=pink",
            "fruit=pear,animal=dog,color=green",
            "fruit=banana",
            "fruit=banana,animal=cat",
        ], legs);
    }

    [Fact]
    public void Exclude_removes_partial_matches_and_matches_loosely()
    {
        Assert.Equal(["os=a,v=1", "os=b,v=1", "os=b,v=2"], Legs("{ os: [a, b], v: [1, 2], exclude: [ { os: A, v: '2' } ] }"));
        Assert.Equal(["os=b,v=1", "os=b,v=2"], Legs("{ os: [a, b], v: [1, 2], exclude: [ { os: a } ] }"));
    }

    [Fact]
    public void An_exclude_key_outside_the_matrix_is_an_error() =>
        Assert.Contains("'nope' is not a key", Assert.Throws<ExpressionException>(() => Legs("{ os: [a], exclude: [ { nope: 1 } ] }")).Message);

    [Fact]
    public void An_include_only_matrix_gives_one_job_per_entry() =>
        Assert.Equal(["a=1", "a=2,b=x"], Legs("{ include: [ { a: 1 }, { a: 2, b: x } ] }"));

    [Fact]
    public void Too_many_jobs_are_refused() =>
        Assert.Contains("more than the limit of 256", Assert.Throws<ExpressionException>(() =>
            Legs("{ a: [1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17], b: [1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16] }")).Message);

    [Fact]
    public void Leg_names_list_the_values() =>
        Assert.Equal("(a, 1)", MatrixExpander.LegSuffix(MatrixExpander.Expand(Yaml("{ os: [a], v: [1] }"))[0]));
}
