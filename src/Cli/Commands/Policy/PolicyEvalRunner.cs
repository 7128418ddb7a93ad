using Microsoft.Extensions.Logging.Abstractions;
using Sandbox.Policy;
using Sandbox.Policy.Rego;

namespace Sandbox.Cli.Commands.Policy;

/// <summary><c>sandbox policy eval|explain</c> (writers in, exit code out, so tests run them without a process).</summary>
public static class PolicyEvalRunner
{
    /// <summary><c>policy eval</c>: prints what <c>opa eval</c> prints (format json or raw), <c>print()</c> output on stderr.
    /// Exit 0, 1 on errors, 2 on usage.</summary>
    public static int Eval(IReadOnlyList<string> dataPaths, string? inputPath, string format, string query, TextWriter stdout, TextWriter stderr)
    {
        if (format is not ("json" or "raw"))
        {
            stderr.WriteLine($"--format '{format}' is not supported: use json or raw");
            return 2;
        }
        CompiledPolicy policy;
        RegoInput? input;
        try
        {
            policy = (dataPaths.Count == 0 ? RegoBundle.FromFiles([]) : RegoBundle.Merge(dataPaths.Select(RegoBundle.Load))).Compile();
            input = inputPath is null ? null : PolicyInputFile.Read(inputPath);
        }
        catch (RegoCompileException e)
        {
            return PrintErrors(e.Errors, format, stdout, stderr);
        }
        catch (RegoException e)
        {
            return PrintErrors([e.Error], format, stdout, stderr);
        }
        // print() lines go to stderr as they happen, as `opa eval` writes them, so stdout stays the result alone.
        var result = policy.Query(query, input, new EvalOptions { PrintHook = stderr.WriteLine });
        if (result.Error is not null) return PrintErrors([result.Error], format, stdout, stderr);
        if (format == "raw")
        {
            foreach (var s in result.Solutions)
                foreach (var e in s.Expressions)
                    stdout.WriteLine(e.Value is System.Text.Json.Nodes.JsonValue v && v.TryGetValue<string>(out var str) ? str : OpaJsonOutput.Format(e.Value));
            return 0;
        }
        stdout.WriteLine(OpaJsonOutput.Format(result));
        return 0;
    }

    private static int PrintErrors(IReadOnlyList<RegoError> errors, string format, TextWriter stdout, TextWriter stderr)
    {
        if (format == "raw")
            foreach (var e in errors) stderr.WriteLine(e.ToString());
        else stdout.WriteLine(OpaJsonOutput.FormatErrors(errors));
        return 1;
    }

    /// <summary><c>policy explain</c>: the typed decision (after validation and clamping) with its reasons. Exit 0 allowed, 3 denied.</summary>
    public static int Explain(string inputPath, string? bundlePath, TextWriter stdout, TextWriter stderr, HostCeilings? ceilings = null)
    {
        EmbeddedPolicyEngine engine;
        RegoInput input;
        try
        {
            var bundle = bundlePath is null ? RegoBundle.LoadDefault() : RegoBundle.Load(bundlePath);
            engine = new EmbeddedPolicyEngine(bundle.Compile(), ceilings ?? new HostCeilings(), NullLogger<EmbeddedPolicyEngine>.Instance);
            input = PolicyInputFile.Read(inputPath);
        }
        catch (RegoCompileException e)
        {
            foreach (var err in e.Errors) stderr.WriteLine(err.ToString());
            return 1;
        }
        catch (RegoException e)
        {
            stderr.WriteLine(e.Error.ToString());
            return 1;
        }
        var d = engine.DecideJson(System.Text.Json.Nodes.JsonNode.Parse(input.ToString()));
        stdout.WriteLine(OpaJsonOutput.Format(DecisionDocument.From(d)));
        return d.Allow ? 0 : 3;
    }
}
