using Sandbox.Cli.Commands.Policy;

namespace Sandbox.Policy.Tests;

/// <summary>The `sandbox policy` commands' logic, without the CLI host.</summary>
public class CliRunnerTests
{
    private static (int Code, string Out, string Err) Run(Func<TextWriter, TextWriter, int> f)
    {
        var o = new StringWriter();
        var e = new StringWriter();
        var code = f(o, e);
        return (code, o.ToString().Replace("\r\n", "\n"), e.ToString());
    }

    [Fact]
    public void Eval_PrintsOpaShapedJson()
    {
        var (code, output, _) = Run((o, e) => PolicyEvalRunner.Eval([], null, "json", "x := 1 + 1", o, e));
        Assert.Equal(0, code);
        Assert.Equal("""
            {
              "result": [
                {
                  "expressions": [
                    {
                      "value": true,
                      "text": "x := 1 + 1",
                      "location": {
                        "row": 1,
                        "col": 1
                      }
                    }
                  ],
                  "bindings": {
                    "x": 2
                  }
                }
              ]
            }

            """, output);
    }

    [Fact]
    public void Eval_UndefinedPrintsEmptyObject()
    {
        var (code, output, _) = Run((o, e) => PolicyEvalRunner.Eval([], null, "json", "input.nothing", o, e));
        Assert.Equal(0, code);
        Assert.Equal("{}\n", output);
    }

    [Fact]
    public void Eval_RawPrintsTheValue_WithBundleAndInput()
    {
        var input = Path.GetTempFileName();
        File.WriteAllText(input, TestBundles.Input(untrusted: true).ToJson().ToJsonString());
        var (code, output, _) = Run((o, e) => PolicyEvalRunner.Eval([TestBundles.DefaultBundleDir], input, "raw", "data.sandbox.decision.isolation", o, e));
        File.Delete(input);
        Assert.Equal(0, code);
        Assert.Equal("microvm\n", output);
    }

    [Fact]
    public void Eval_ParseErrorsAreReportedWithLocation()
    {
        var (code, output, _) = Run((o, e) => PolicyEvalRunner.Eval([], null, "json", "x := ", o, e));
        Assert.Equal(1, code);
        Assert.Contains("\"code\": \"rego_parse_error\"", output, StringComparison.Ordinal);
        Assert.Contains("\"row\": 1", output, StringComparison.Ordinal);
    }

    [Fact]
    public void Test_RunsTheBundleTests()
    {
        var (code, output, _) = Run((o, e) => PolicyTestRunner.Run(TestBundles.DefaultBundleDir, o, e));
        Assert.Equal(0, code);
        Assert.Contains("PASS: 34/34", output, StringComparison.Ordinal);
    }

    [Fact]
    public void Explain_UsesTheEmbeddedBundle()
    {
        var input = Path.GetTempFileName();
        File.WriteAllText(input, TestBundles.Input(tenant: "nobody").ToJson().ToJsonString());
        var (code, output, _) = Run((o, e) => PolicyEvalRunner.Explain(input, null, o, e));
        File.Delete(input);
        Assert.Equal(3, code);
        Assert.Contains("unknown tenant \\\"nobody\\\"", output, StringComparison.Ordinal);
    }

    [Fact]
    public void TarGzBundle_LoadsLikeTheDirectory()
    {
        var tgz = Path.Combine(Path.GetTempPath(), Guid.NewGuid() + ".tar.gz");
        using (var fs = File.Create(tgz))
        using (var gz = new System.IO.Compression.GZipStream(fs, System.IO.Compression.CompressionLevel.Fastest))
        using (var tar = new System.Formats.Tar.TarWriter(gz))
        {
            // TarFile.CreateFromDirectory skips dot files such as .manifest; add every file explicitly.
            foreach (var f in Directory.GetFiles(TestBundles.DefaultBundleDir))
                tar.WriteEntry(f, "./" + Path.GetFileName(f));
        }
        var policy = Sandbox.Policy.Rego.RegoBundle.LoadTarGz(tgz).Compile();
        File.Delete(tgz);
        Assert.Equal("sandbox-default-1", policy.Revision);
        Assert.Equal(34, policy.TestRules.Count);
    }
}
