using Sandbox.CiRunner.Workflow;

namespace Sandbox.CiRunner.Tests;

public sealed class WorkflowParserTests
{
    private static WorkflowException Fails(string yaml) => Assert.Throws<WorkflowException>(() => WorkflowParser.Parse(yaml, "w.yml"));

    [Fact]
    public void Parses_the_documented_subset()
    {
        var w = WorkflowParser.Parse("""
            name: CI
            on: [push, pull_request]
            env:
              A: 1
            defaults:
              run:
                shell: bash
            jobs:
              build:
                name: Build ${{ matrix.os }}
                runs-on: [self-hosted, linux]
                timeout-minutes: 5
                continue-on-error: ${{ matrix.os == 'x' }}
                strategy:
                  fail-fast: false
                  max-parallel: 2
                  matrix:
                    os: [a, b]
                    n: [1, 2]
                    include:
                      - os: a
                        extra: yes
                outputs:
                  v: ${{ steps.s.outputs.v }}
                steps:
                  - uses: actions/checkout@v4
                  - id: s
                    name: Say
                    run: echo hi
                    shell: python
                    env: { B: "2" }
                    working-directory: sub
                    if: success()
                    continue-on-error: true
                    timeout-minutes: 1
              test:
                needs: build
                runs-on: ubuntu-latest
                steps:
                  - run: make test
            """, "w.yml");
        Assert.Equal("CI", w.Name);
        Assert.Equal(["push", "pull_request"], w.On);
        Assert.Equal("1", w.Env.Single().Value);
        Assert.Equal("bash", w.Defaults.Shell);
        var build = w.FindJob("build")!;
        Assert.Equal(["self-hosted", "linux"], build.RunsOn);
        Assert.Equal("5", build.TimeoutMinutes);
        Assert.False(build.Strategy!.FailFast);
        Assert.Equal(2, build.Strategy.MaxParallel);
        Assert.Equal(2, build.Steps.Count);
        Assert.Equal("actions/checkout@v4", build.Steps[0].Uses);
        Assert.Equal("python", build.Steps[1].Shell);
        Assert.Equal(new SourceLocation("w.yml", 27, 9), build.Steps[1].Location);
        Assert.Equal(["build"], w.FindJob("test")!.Needs);
    }

    [Fact]
    public void An_unknown_key_is_named_with_its_line_and_column()
    {
        var e = Fails("""
            on: push
            jobs:
              a:
                runs-on: x
                stepz: []
                steps:
                  - run: echo
                    shel: bash
            """);
        Assert.Equal(2, e.Errors.Count);
        Assert.Equal("w.yml:5:5: jobs.a.stepz: unknown key; accepted here: name, needs, runs-on, env, defaults, timeout-minutes, continue-on-error, if, strategy, outputs, steps, permissions, concurrency, services",
            e.Errors[0].ToString());
        Assert.Equal(new SourceLocation("w.yml", 8, 9), e.Errors[1].Location);
        Assert.Equal("jobs.a.steps[0].shel", e.Errors[1].Key);
    }

    [Fact]
    public void Any_other_action_is_an_error_naming_it()
    {
        var e = Fails("""
            jobs:
              a:
                steps:
                  - uses: actions/setup-node@v4
                  - uses: actions/checkout@v4
                  - uses: Actions/Cache@v4
            """);
        var error = Assert.Single(e.Errors);
        Assert.Equal("jobs.a.steps[0].uses", error.Key);
        Assert.Equal(new SourceLocation("w.yml", 4, 15), error.Location);
        Assert.Contains("'actions/setup-node@v4' is not supported", error.Message);
        Assert.Contains("actions/checkout, actions/upload-artifact, actions/download-artifact, actions/cache", error.Message);
    }

    [Fact]
    public void Needs_cycles_are_reported_with_their_path()
    {
        var e = Fails("""
            jobs:
              a: { needs: c, steps: [ { run: x } ] }
              b: { needs: a, steps: [ { run: x } ] }
              c: { needs: b, steps: [ { run: x } ] }
              d: { needs: [d, nope], steps: [ { run: x } ] }
            """);
        Assert.Contains(e.Errors, x => x.Message == "needs cycle: a -> c -> b -> a" && x.Location.Line == 2);
        Assert.Contains(e.Errors, x => x.Message == "job 'd' needs itself");
        Assert.Contains(e.Errors, x => x.Message.StartsWith("'nope' is not a job of this workflow", StringComparison.Ordinal));
    }

    [Fact]
    public void Unsupported_job_keys_and_shapes_are_errors()
    {
        var e = Fails("""
            jobs:
              a:
                container: { image: x }
                timeout-minutes: soon
                continue-on-error: maybe
                steps:
                  - run: x
                    uses: actions/checkout@v4
                  - name: nothing
                  - run: x
                    shell: fish
                  - run: x
                    id: s
                  - run: y
                    id: s
            """);
        Assert.Contains(e.Errors, x => x.Key == "jobs.a.container" && x.Message.Contains("not supported"));
        Assert.Contains(e.Errors, x => x.Key == "jobs.a.timeout-minutes" && x.Message.Contains("'soon' must be a positive number"));
        Assert.Contains(e.Errors, x => x.Key == "jobs.a.continue-on-error");
        Assert.Contains(e.Errors, x => x.Key == "jobs.a.steps[0]" && x.Message.Contains("not both"));
        Assert.Contains(e.Errors, x => x.Key == "jobs.a.steps[1]" && x.Message.Contains("needs 'run' or 'uses'"));
        Assert.Contains(e.Errors, x => x.Key == "jobs.a.steps[2].shell" && x.Message.Contains("'fish' is not supported"));
        Assert.Contains(e.Errors, x => x.Key == "jobs.a.steps[4].id" && x.Message.Contains("already the id"));
    }

    [Fact]
    public void Bad_expressions_and_contexts_unavailable_in_a_job_if_are_errors()
    {
        var e = Fails("""
            jobs:
              a:
                if: matrix.os == 'x'
                steps:
                  - run: echo ${{ github.sha
                  - run: echo ${{ nosuch(1) }}
                  - run: echo ${{ "double" }}
            """);
        Assert.Contains(e.Errors, x => x.Key == "jobs.a.if" && x.Message.Contains("context 'matrix' is not available here"));
        Assert.Contains(e.Errors, x => x.Key == "jobs.a.steps[0].run" && x.Message.Contains("no closing"));
        Assert.Contains(e.Errors, x => x.Key == "jobs.a.steps[1].run" && x.Message.Contains("unknown function 'nosuch'"));
        Assert.Contains(e.Errors, x => x.Key == "jobs.a.steps[2].run" && x.Message.Contains("single quotes"));
    }

    [Fact]
    public void Yaml_syntax_errors_name_the_position()
    {
        var e = Fails("jobs:\n  a:\n    steps: [\n");
        var error = Assert.Single(e.Errors);
        Assert.Equal("(yaml)", error.Key);
        Assert.True(error.Location.Line >= 3, error.ToString());
    }

    [Fact]
    public void A_workflow_without_jobs_is_an_error()
    {
        var e = Fails("on: push\n");
        Assert.Equal("jobs", Assert.Single(e.Errors).Key);
    }
}
