using System.CommandLine;

namespace Sandbox.Cli.Commands.Policy;

/// <summary>`sandbox policy eval|test|serve|explain`: Rego policies as `opa` runs them, on the embedded evaluator.</summary>
public static class PolicyCommand
{
    public static Command Create()
    {
        var policy = new Command("policy", "Evaluate, test and serve Rego policies (the embedded OPA-compatible evaluator)");
        policy.Subcommands.Add(CreateEval());
        policy.Subcommands.Add(CreateTest());
        policy.Subcommands.Add(CreateServe());
        policy.Subcommands.Add(CreateExplain());
        return policy;
    }

    private static Command CreateEval()
    {
        var data = new Option<string[]>("--data", "-d") { Description = "Bundle directory, .tar.gz, .rego or data file (repeatable)", AllowMultipleArgumentsPerToken = false };
        var input = new Option<string?>("--input", "-i") { Description = "Input document (JSON or YAML file; - for stdin)" };
        var format = new Option<string>("--format", "-f") { Description = "Output format: json or raw", DefaultValueFactory = _ => "json" };
        var query = new Argument<string>("query") { Description = "Rego query, e.g. data.sandbox.decision" };
        var eval = new Command("eval", "Evaluate a Rego query (prints what `opa eval` prints)");
        eval.Options.Add(data);
        eval.Options.Add(input);
        eval.Options.Add(format);
        eval.Arguments.Add(query);
        eval.SetAction(r => PolicyEvalRunner.Eval(r.GetValue(data) ?? [], r.GetValue(input), r.GetValue(format) ?? "json", r.GetValue(query)!, Console.Out, Console.Error));
        return eval;
    }

    private static Command CreateTest()
    {
        var dir = new Argument<string>("path") { Description = "Bundle directory with *_test.rego files" };
        var test = new Command("test", "Run the test_ rules of a bundle (like `opa test`)");
        var verbose = new Option<bool>("--verbose", "-v") { Description = "Show every test's print() output (a failing test's is always shown)" };
        test.Arguments.Add(dir);
        test.Options.Add(verbose);
        test.SetAction(r => PolicyTestRunner.Run(r.GetValue(dir)!, Console.Out, Console.Error, r.GetValue(verbose)));
        return test;
    }

    private static Command CreateServe()
    {
        var addr = new Option<string>("--addr") { Description = "Listen address (loopback by default)", DefaultValueFactory = _ => "127.0.0.1:8181" };
        var data = new Option<string?>("--data", "-d") { Description = "Bundle to serve (default: the embedded sandbox bundle)" };
        var token = new Option<string?>("--token") { Description = "Require this bearer token" };
        var serve = new Command("serve", "Serve a bundle over OPA's REST Data API (POST /v1/data/{path}, GET /health)");
        serve.Options.Add(addr);
        serve.Options.Add(data);
        serve.Options.Add(token);
        serve.SetAction((r, ct) => PolicyServeRunner.RunAsync(r.GetValue(addr)!, r.GetValue(data), r.GetValue(token), Console.Out, Console.Error, ct));
        return serve;
    }

    private static Command CreateExplain()
    {
        var input = new Option<string>("--input", "-i") { Description = "Sandbox request input (JSON or YAML)", Required = true };
        var data = new Option<string?>("--data", "-d") { Description = "Bundle (default: the embedded sandbox bundle)" };
        var explain = new Command("explain", "Show the decision for a sandbox request, with its reasons");
        explain.Options.Add(input);
        explain.Options.Add(data);
        explain.SetAction(r => PolicyEvalRunner.Explain(r.GetValue(input)!, r.GetValue(data), Console.Out, Console.Error));
        return explain;
    }
}
