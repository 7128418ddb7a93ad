using System.Diagnostics;
using System.Net;
using System.Text;
using Microsoft.Extensions.Logging.Abstractions;
using Sandbox.Policy.Rego;
using Sandbox.Policy.Server;

namespace Sandbox.Policy.Tools;

/// <summary>The logic behind <c>sandbox policy eval|test|explain|serve</c>, kept pure (writers in, exit code out).</summary>
public static class PolicyEvalRunner
{
    /// <summary>Largest input document read from a file, bytes (16 MiB).</summary>
    public const long MaxInputBytes = 16L << 20;

    /// <summary><c>policy eval</c>: prints what <c>opa eval</c> prints (format json or raw). Exit 0, or 1 on errors.</summary>
    public static int Eval(IReadOnlyList<string> dataPaths, string? inputPath, string format, string query, TextWriter stdout, TextWriter stderr)
    {
        if (format is not ("json" or "raw"))
        {
            stderr.WriteLine($"--format '{format}' is not supported: use json or raw");
            return 2;
        }
        CompiledPolicy policy;
        Value? input;
        try
        {
            policy = LoadBundles(dataPaths).Compile();
            input = inputPath is null ? null : ReadInput(inputPath);
        }
        catch (RegoCompileException e)
        {
            return PrintErrors(e.Errors, format, stdout, stderr);
        }
        catch (RegoException e)
        {
            return PrintErrors([e.Error], format, stdout, stderr);
        }
        var result = policy.Query(query, input, EvalOptions.Default);
        if (result.Error is not null) return PrintErrors([result.Error], format, stdout, stderr);
        if (format == "raw")
        {
            foreach (var s in result.Solutions)
                foreach (var e in s.Exprs) stdout.WriteLine(e.Value is StringValue sv ? sv.V : PrettyJson.Format(e.Value));
            return 0;
        }
        stdout.WriteLine(FormatResult(result));
        return 0;
    }

    internal static string FormatResult(RegoQueryResult result)
    {
        if (result.Solutions.Count == 0) return "{}";
        var sb = new StringBuilder();
        PrettyJson.WriteOrdered(sb, [("result", (b, i) => PrettyJson.WriteList(b, result.Solutions, WriteSolution, i))], 0);
        return sb.ToString();

        static void WriteSolution(StringBuilder b, RegoSolution s, int indent)
        {
            var fields = new List<(string, Action<StringBuilder, int>)>
            {
                ("expressions", (b2, i2) => PrettyJson.WriteList(b2, s.Exprs, (b3, e, i3) => PrettyJson.WriteOrdered(b3,
                [
                    ("value", (b4, i4) => PrettyJson.Write(b4, e.Value, i4)),
                    ("text", (b4, _) => Value.WriteJsonString(b4, e.Text)),
                    ("location", (b4, i4) => PrettyJson.WriteOrdered(b4, [("row", (b5, _) => b5.Append(e.Loc.Row)), ("col", (b5, _) => b5.Append(e.Loc.Col))], i4)),
                ], i3), i2)),
            };
            if (s.BindingValues.Count > 0)
            {
                fields.Add(("bindings", (b2, i2) => PrettyJson.WriteOrdered(b2,
                    s.BindingValues.Select(kv => (kv.Name, (Action<StringBuilder, int>)((b3, i3) => PrettyJson.Write(b3, kv.Value, i3)))).ToList(), i2)));
            }
            PrettyJson.WriteOrdered(b, fields, indent);
        }
    }

    private static int PrintErrors(IReadOnlyList<RegoError> errors, string format, TextWriter stdout, TextWriter stderr)
    {
        if (format == "raw")
        {
            foreach (var e in errors) stderr.WriteLine(e.ToString());
            return 1;
        }
        var sb = new StringBuilder();
        PrettyJson.WriteOrdered(sb, [("errors", (b, i) => PrettyJson.WriteList(b, errors, (b2, e, i2) =>
        {
            var fields = new List<(string, Action<StringBuilder, int>)>
            {
                ("message", (b3, _) => Value.WriteJsonString(b3, e.Message)),
                ("code", (b3, _) => Value.WriteJsonString(b3, e.Code)),
            };
            if (e.Location is { } loc)
            {
                fields.Add(("location", (b3, i3) => PrettyJson.WriteOrdered(b3,
                [
                    ("file", (b4, _) => Value.WriteJsonString(b4, loc.File)),
                    ("row", (b4, _) => b4.Append(loc.Row)),
                    ("col", (b4, _) => b4.Append(loc.Col)),
                ], i3)));
            }
            PrettyJson.WriteOrdered(b2, fields, i2);
        }, i))], 0);
        stdout.WriteLine(sb.ToString());
        return 1;
    }

    /// <summary><c>policy test DIR</c>: runs every <c>test_*</c> rule. Exit 0 when all pass, 1 otherwise.</summary>
    public static int Test(string path, TextWriter stdout, TextWriter stderr)
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
        }
        stdout.WriteLine(new string('-', 80));
        if (passed == results.Count) stdout.WriteLine($"PASS: {passed}/{results.Count}");
        else
        {
            stdout.WriteLine($"PASS: {passed}/{results.Count}");
            stdout.WriteLine($"FAIL: {results.Count(r => r.Outcome == "FAIL")}/{results.Count}");
            var errors = results.Count(r => r.Outcome == "ERROR");
            if (errors > 0) stdout.WriteLine($"ERROR: {errors}/{results.Count}");
        }
        return passed == results.Count && results.Count > 0 ? 0 : 1;
    }

    /// <summary>One <c>test_</c> rule's outcome: PASS, FAIL (undefined or false) or ERROR.</summary>
    public sealed record TestResult(string Name, string Outcome, TimeSpan Elapsed, string? Detail);

    public static IReadOnlyList<TestResult> RunTests(CompiledPolicy policy)
    {
        var list = new List<TestResult>();
        foreach (var name in policy.TestRules)
        {
            var sw = Stopwatch.StartNew();
            var r = policy.Evaluate(name, (Value?)null, EvalOptions.Default);
            sw.Stop();
            var outcome = r.Kind switch
            {
                RegoResultKind.Error => "ERROR",
                RegoResultKind.Defined when r.RawValue is not BoolValue { V: false } => "PASS",
                _ => "FAIL",
            };
            list.Add(new TestResult(name, outcome, sw.Elapsed, r.Kind == RegoResultKind.Error ? r.Error!.ToString() : null));
        }
        return list;
    }

    /// <summary><c>policy explain</c>: the typed decision (after validation and clamping) for an input, with its reasons.</summary>
    public static int Explain(string inputPath, string? bundlePath, TextWriter stdout, TextWriter stderr, HostCeilings? ceilings = null)
    {
        EmbeddedPolicyEngine engine;
        System.Text.Json.Nodes.JsonNode? input;
        try
        {
            var bundle = bundlePath is null ? RegoBundle.LoadDefault() : RegoBundle.Load(bundlePath);
            engine = new EmbeddedPolicyEngine(bundle.Compile(), ceilings ?? new HostCeilings(), NullLogger<EmbeddedPolicyEngine>.Instance);
            input = ValueJson.ToNode(ReadInput(inputPath));
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
        var d = engine.DecideJson(input);
        stdout.WriteLine(PrettyJson.Format(DecisionDocument(d)));
        return d.Allow ? 0 : 3;
    }

    internal static Value DecisionDocument(PolicyDecision d)
    {
        static Value S(string s) => new StringValue(s);
        static Value Arr(IEnumerable<string> xs) => new ArrayValue(xs.Select(S).ToArray());
        static ObjectValue Obj(params (string K, Value V)[] kv) => new(kv.ToDictionary(x => (Value)new StringValue(x.K), x => x.V));
        return Obj(
            ("decision_id", S(d.DecisionId)),
            ("bundle_revision", d.BundleRevision is null ? Value.Null : S(d.BundleRevision)),
            ("allow", Value.Bool(d.Allow)),
            ("isolation", S(d.Isolation)),
            ("require_hardware_virtualization", Value.Bool(d.RequireHardwareVirtualization)),
            ("resources", Obj(("memory_mib", Value.Number(d.Resources.MemoryMiB)), ("vcpus", Value.Number(d.Resources.Vcpus)), ("pids", Value.Number(d.Resources.Pids)),
                ("disk_mib", Value.Number(d.Resources.DiskMiB)), ("timeout_s", Value.Number(d.Resources.TimeoutSeconds)))),
            ("network", Obj(("mode", S(d.Network.Mode)), ("egress", Arr(d.Network.Egress)))),
            ("syscall_profile", Obj(("name", S(d.SyscallProfile.Name)), ("add", Arr(d.SyscallProfile.Add)))),
            ("reasons", Arr(d.Reasons)));
    }

    /// <summary><c>policy serve</c>: the bundle over OPA's Data API until cancelled.</summary>
    public static async Task<int> ServeAsync(string address, string? bundlePath, string? bearerToken, TextWriter stdout, TextWriter stderr, CancellationToken cancellationToken)
    {
        if (!IPEndPoint.TryParse(address, out var endpoint))
        {
            stderr.WriteLine($"--addr '{address}' is not an address:port (e.g. 127.0.0.1:8181)");
            return 2;
        }
        CompiledPolicy policy;
        try
        {
            policy = (bundlePath is null ? RegoBundle.LoadDefault() : RegoBundle.Load(bundlePath)).Compile();
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
        await using var server = new OpaDataApiServer(policy, new OpaServerOptions { Endpoint = endpoint, BearerToken = bearerToken });
        server.Start();
        stdout.WriteLine($"serving the policy bundle (revision {policy.Revision ?? "none"}) on http://{server.LocalEndpoint}/v1/data");
        try
        {
            await Task.Delay(Timeout.Infinite, cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
        return 0;
    }

    internal static RegoBundle LoadBundles(IReadOnlyList<string> paths) =>
        paths.Count == 0 ? RegoBundle.FromFiles([]) : RegoBundle.Merge(paths.Select(RegoBundle.Load));

    internal static Value ReadInput(string path)
    {
        var text = path == "-" ? Console.In.ReadToEnd() : ReadBounded(path);
        if (path.EndsWith(".yaml", StringComparison.Ordinal) || path.EndsWith(".yml", StringComparison.Ordinal))
            return RegoBundle.FromFiles([("data.yaml", text)]).BaseData;
        return ValueJson.Parse(text);
    }

    private static string ReadBounded(string path)
    {
        if (!File.Exists(path)) throw new RegoException(RegoErrorCodes.InvalidParameter, $"input file '{path}' does not exist");
        if (new FileInfo(path).Length > MaxInputBytes) throw new RegoException(RegoErrorCodes.InvalidParameter, $"input file '{path}' is larger than {MaxInputBytes} bytes");
        return File.ReadAllText(path);
    }
}
