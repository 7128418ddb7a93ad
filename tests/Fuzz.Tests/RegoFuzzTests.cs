using Sandbox.Policy.Rego;

namespace Sandbox.Fuzz.Tests;

/// <summary>Rego source (a policy bundle is configuration, but a remote bundle or a tenant-supplied module must not take
/// the evaluator down) and the input document (built from API requests: untrusted). RegoException for anything bad;
/// evaluation errors come back as results.</summary>
[Collection("fuzz")]
public sealed class RegoFuzzTests
{
    private static readonly string[] s_regoTokens =
    [
        "\n", " if ", " := ", " = ", " == ", "{", "}", "[", "]", "(", ")", ",", ";", "\"", "`", "some ", "every ", " in ",
        "not ", "default ", "else ", "with ", " as ", "import ", "package ", "data.", "input.", "x[_]", "count(", "sprintf(",
        "1e999", "-0", "99999999999999999999", "\\u0000", "#", "|", "&", "f(x)", "walk(", "numbers.range(0, 100000000)",
    ];

    private static readonly string s_input = """
        {"subject":{"tenant":"acme","principal":"uid:0"},
         "request":{"id":"req-1","time":"2026-12-06T00:00:00Z","action":"create"},
         "workload":{"untrusted":true,"code_provenance":"fork","image":"debian","syscall_profile":"strict"},
         "resources":{"memory_mib":512,"vcpus":1,"pids":100,"disk_mib":100,"timeout_s":60},
         "network":{"egress":["pypi.org"]},
         "host":{"tiers":["container","microvm"],"accelerator":"tcg"}}
        """;

    private static readonly Lazy<CompiledPolicy> s_default = new(() => RegoBundle.LoadDefault().Compile());

    [Fact]
    public void RegoSource() =>
        FuzzHarness.RunText("rego source",
            Mutations.Text([Corpus.Read("policies/sandbox/policy.rego"), "package p\nimport rego.v1\nallow if { input.x[_] == 1 }\n"], s_regoTokens),
            text =>
            {
                var policy = RegoBundle.FromFiles([("fuzz.rego", text)]).Compile();
                policy.EvaluateJson("data", "{}");
            },
            [typeof(RegoException), typeof(RegoCompileException)], iterations: FuzzHarness.Iterations / 3);

    [Fact]
    public void InputJson() =>
        FuzzHarness.RunText("rego input json", Mutations.Text([s_input], Corpus.YamlJsonTokens),
            text => s_default.Value.EvaluateJson("data.sandbox.decision", text),
            [typeof(RegoException)]);
}
