namespace Sandbox.Cli.Tests;

/// <summary>`sandbox policy eval|test` show Rego print() output as `opa` does: eval on stderr (stdout keeps the
/// result alone), test under the test that printed when it fails, under every test with --verbose. The real CLI
/// process; no sandboxd is involved (the socket path is never dialled).</summary>
public sealed class PolicyPrintTests : IDisposable
{
    private const string NoSocket = "/nonexistent/sandboxd.sock";
    private readonly string _dir = Directory.CreateTempSubdirectory("policy-print-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task Eval_WritesPrintLinesToStderr_AndOnlyTheResultToStdout()
    {
        File.WriteAllText(Path.Combine(_dir, "p.rego"), """
            package t
            p if {
                some x in [1, 2]
                print("x is", x, input.missing)
                x == 2
            }
            """);
        var r = await CliProcess.RunAsync(NoSocket, "policy", "eval", "-d", _dir, "--format", "raw", "data.t.p");
        Assert.Equal(0, r.ExitCode);
        Assert.Equal("true\n", r.Stdout.Replace("\r\n", "\n"));
        Assert.Equal("x is 1 <undefined>\nx is 2 <undefined>\n", r.Stderr.Replace("\r\n", "\n"));
    }

    [Fact]
    public async Task Test_ShowsAFailingTestsPrintOutputUnderIt_AndAPassingTestsOnlyWithVerbose()
    {
        File.WriteAllText(Path.Combine(_dir, "t_test.rego"), """
            package t
            test_passes if {
                print("from the passing test")
                true
            }
            test_fails if {
                print("from the failing test", {"a": 1})
                false
            }
            """);
        var quiet = await CliProcess.RunAsync(NoSocket, "policy", "test", _dir);
        Assert.Equal(1, quiet.ExitCode);
        var q = quiet.Stdout.Replace("\r\n", "\n");
        Assert.DoesNotContain("from the passing test", q);
        Assert.Matches(@"data\.t\.test_fails: FAIL \([0-9.]+ms\)\n\n  from the failing test \{""a"": 1\}\n\n", q);

        var verbose = await CliProcess.RunAsync(NoSocket, "policy", "test", "-v", _dir);
        Assert.Equal(1, verbose.ExitCode);
        var v = verbose.Stdout.Replace("\r\n", "\n");
        Assert.Matches(@"data\.t\.test_passes: PASS \([0-9.]+ms\)\n\n  from the passing test\n\n", v);
        Assert.Contains("  from the failing test", v);
    }
}
