using System.Diagnostics;
using Sandbox.Policy.Rego;

namespace Sandbox.Cli.Commands.Policy;

/// <summary><c>sandbox policy test DIR</c>: runs every <c>test_*</c> rule of a bundle, as <c>opa test</c> does.</summary>
public static class PolicyTestRunner
{
    /// <summary>One <c>test_</c> rule's outcome: PASS, FAIL (undefined or false) or ERROR, and the lines its
    /// <c>print()</c> calls wrote.</summary>
    public sealed record TestResult(string Name, string Outcome, TimeSpan Elapsed, string? Detail, IReadOnlyList<string> Printed);

    /// <summary>Exit 0 when all pass, 1 otherwise (or when the bundle has no tests or does not load). As <c>opa test</c>,
    /// a test's print output is shown under it when it does not pass, and under every test when
    /// <paramref name="verbose"/>.</summary>
    public static int Run(string path, TextWriter stdout, TextWriter stderr, bool verbose = false)
    {
        CompiledPolicy policy;
        try
        {
            policy = RegoBundle.Load(path).Compile();
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
        var results = RunTests(policy);
        var passed = 0;
        foreach (var r in results)
        {
            stdout.WriteLine($"{r.Name}: {r.Outcome} ({r.Elapsed.TotalMilliseconds:F3}ms){(r.Detail is null ? "" : " " + r.Detail)}");
            if (r.Outcome == "PASS") passed++;
            if (r.Printed.Count > 0 && (verbose || r.Outcome != "PASS"))
            {
                stdout.WriteLine();
                foreach (var line in r.Printed) stdout.WriteLine("  " + line);
                stdout.WriteLine();
            }
        }
        stdout.WriteLine(new string('-', 80));
        stdout.WriteLine($"PASS: {passed}/{results.Count}");
        if (passed != results.Count)
        {
            stdout.WriteLine($"FAIL: {results.Count(r => r.Outcome == "FAIL")}/{results.Count}");
            var errors = results.Count(r => r.Outcome == "ERROR");
            if (errors > 0) stdout.WriteLine($"ERROR: {errors}/{results.Count}");
        }
        return passed == results.Count && results.Count > 0 ? 0 : 1;
    }

    public static IReadOnlyList<TestResult> RunTests(CompiledPolicy policy)
    {
        var list = new List<TestResult>();
        foreach (var name in policy.TestRules)
        {
            var printed = new List<string>();
            var sw = Stopwatch.StartNew();
            var r = policy.Evaluate(name, (RegoInput?)null, new EvalOptions { PrintHook = printed.Add });
            sw.Stop();
            var outcome = r.Kind switch
            {
                RegoResultKind.Error => "ERROR",
                RegoResultKind.Defined when !r.IsFalse => "PASS",
                _ => "FAIL",
            };
            list.Add(new TestResult(name, outcome, sw.Elapsed, r.Kind == RegoResultKind.Error ? r.Error!.ToString() : null, printed));
        }
        return list;
    }
}
