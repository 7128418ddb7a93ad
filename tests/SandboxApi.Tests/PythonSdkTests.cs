using System.Diagnostics;

namespace Sandbox.SandboxApi.Tests;

/// <summary>Runs sdk/python's pytest suite (the README example, sync and asyncio) against the shared real sandboxd.</summary>
[Collection("sandboxd")]
public sealed class PythonSdkTests(SharedServer shared)
{
    internal static string? SdkDir()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, "sdk", "python");
            if (File.Exists(Path.Combine(dir.FullName, "Sandbox.sln")) && Directory.Exists(candidate))
                return candidate;
        }
        return null;
    }

    private static async Task<(int Code, string Output)> RunAsync(string file, IEnumerable<string> args, string? socket = null)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args)
            psi.ArgumentList.Add(a);
        if (socket is not null)
            psi.Environment["SANDBOX_SOCKET"] = socket;
        psi.Environment["PYTHONDONTWRITEBYTECODE"] = "1";
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        await p.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(120));
        return (p.ExitCode, await stdout + await stderr);
    }

    [PythonSdkFact]
    public async Task The_python_sdk_passes_its_tests_against_sandboxd()
    {
        var dir = SdkDir()!;
        var generate = await RunAsync(Path.Combine(dir, "generate.sh"), []);
        Assert.True(generate.Code == 0, generate.Output);
        var test = await RunAsync("/usr/bin/python3", ["-m", "pytest", "-q", "-p", "no:cacheprovider", Path.Combine(dir, "tests")], shared.Server.SocketPath);
        Assert.True(test.Code == 0, test.Output);
        Assert.Contains("2 passed", test.Output);
    }
}

public sealed class PythonSdkFactAttribute : FactAttribute
{
    public PythonSdkFactAttribute()
    {
        if (PythonSdkTests.SdkDir() is null)
            Skip = "sdk/python not found above the test binaries";
        else if (!File.Exists("/usr/lib/python3/dist-packages/grpc_tools/protoc.py") || !Directory.Exists("/usr/lib/python3/dist-packages/grpc"))
            Skip = "Debian's python3-grpcio and python3-grpc-tools are not installed (scripts/bootstrap.sh installs them)";
        else if (!Directory.Exists("/usr/lib/python3/dist-packages/pytest"))
            Skip = "python3-pytest is not installed";
    }
}
