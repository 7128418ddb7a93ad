using System.Diagnostics;
using System.Text;
using System.Text.RegularExpressions;

namespace Sandbox.SandboxApi.Tests;

/// <summary>Runs sdk/typescript's `node --test` suite against the shared real sandboxd, one xunit case per node test
/// (so each is counted and reported by name): the package is built once (generate.sh + tsc), then each case runs
/// node's runner with a name pattern that matches only its test.</summary>
[Collection("sandboxd")]
public sealed partial class TypeScriptSdkTests(SharedServer shared)
{
    private static readonly Lazy<Task<(int Code, string Output)>> Build = new(() =>
        RunAsync("npm", ["run", "--silent", "build"], TypeScriptSdk.Dir()!, null, TimeSpan.FromMinutes(3)));

    /// <summary>The names of the tests in sdk/typescript/test/*.test.ts (a placeholder when the SDK is not there,
    /// which the attribute skips).</summary>
    public static TheoryData<string> Tests()
    {
        var data = new TheoryData<string>();
        foreach (var name in TypeScriptSdk.TestNames())
            data.Add(name);
        if (data.Count == 0)
            data.Add("(no sdk/typescript tests found)");
        return data;
    }

    [TypeScriptSdkTheory]
    [MemberData(nameof(Tests))]
    public async Task The_typescript_sdk_test_passes_against_sandboxd(string name)
    {
        var build = await Build.Value;
        Assert.True(build.Code == 0, "npm run build failed:\n" + build.Output);
        var dir = TypeScriptSdk.Dir()!;
        var files = Directory.GetFiles(Path.Combine(dir, "build", "test"), "*.test.js");
        var run = await RunAsync("node",
            ["--test", "--test-reporter=tap", $"--test-name-pattern=^{JsRegexEscape(name)}$", .. files],
            dir, shared.Server.SocketPath, TimeSpan.FromMinutes(2));
        Assert.True(run.Code == 0, run.Output);
        // Exactly this test ran and passed (the others are reported as skipped by the pattern).
        Assert.Matches(new Regex(@"^# pass 1$", RegexOptions.Multiline), run.Output);
        Assert.Matches(new Regex(@"^# fail 0$", RegexOptions.Multiline), run.Output);
    }

    private static string JsRegexEscape(string s)
    {
        var b = new StringBuilder();
        foreach (var c in s)
        {
            if (@"\^$.*+?()[]{}|/".Contains(c))
                b.Append('\\');
            b.Append(c);
        }
        return b.ToString();
    }

    private static async Task<(int Code, string Output)> RunAsync(string file, IEnumerable<string> args, string cwd, string? socket, TimeSpan limit)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = cwd };
        foreach (var a in args)
            psi.ArgumentList.Add(a);
        if (socket is not null)
            psi.Environment["SANDBOX_SOCKET"] = socket;
        psi.Environment["NO_COLOR"] = "1";
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        try
        {
            await p.WaitForExitAsync().WaitAsync(limit);
        }
        catch (TimeoutException)
        {
            p.Kill(entireProcessTree: true);
            throw;
        }
        return (p.ExitCode, await stdout + await stderr);
    }
}

internal static partial class TypeScriptSdk
{
    public static string? Dir()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, "sdk", "typescript");
            if (File.Exists(Path.Combine(dir.FullName, "Sandbox.sln")) && Directory.Exists(candidate))
                return candidate;
        }
        return null;
    }

    public static IEnumerable<string> TestNames() =>
        Dir() is { } dir && Directory.Exists(Path.Combine(dir, "test"))
            ? Directory.GetFiles(Path.Combine(dir, "test"), "*.test.ts").Order()
                .SelectMany(f => TestDeclaration().Matches(File.ReadAllText(f)).Select(m => m.Groups[1].Value))
            : [];

    /// <summary>`test('name', …)` at the start of a line.</summary>
    [GeneratedRegex(@"^test\('((?:[^'\\]|\\.)+)'", RegexOptions.Multiline)]
    private static partial Regex TestDeclaration();

    public static string? Unusable()
    {
        if (Dir() is not { } dir)
            return "sdk/typescript not found above the test binaries";
        if (!File.Exists("/usr/bin/node") && !File.Exists("/usr/local/bin/node"))
            return "node is not installed (apt-get install nodejs npm; scripts/bootstrap.sh does)";
        if (!Directory.Exists(Path.Combine(dir, "node_modules", "typescript")) || !Directory.Exists(Path.Combine(dir, "node_modules", "@grpc", "grpc-js")))
            return "run 'npm ci' in sdk/typescript (scripts/bootstrap.sh does)";
        return null;
    }
}

public sealed class TypeScriptSdkTheoryAttribute : TheoryAttribute
{
    public TypeScriptSdkTheoryAttribute()
    {
        if (TypeScriptSdk.Unusable() is { } reason)
            Skip = reason;
    }
}
