using System.Diagnostics;

namespace Sandbox.Isolation.Tests;

/// <summary>Runs a host program a test needs for its set-up or to look from outside (ip, stat), failing the test
/// with the program's stderr when it exits non-zero.</summary>
internal static class HostProgram
{
    public static string Run(string program, params string[] args)
    {
        var info = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args)
            info.ArgumentList.Add(a);
        using var p = Process.Start(info)!;
        var stderr = p.StandardError.ReadToEndAsync();
        var stdout = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        Assert.True(p.ExitCode == 0, $"{program} {string.Join(' ', args)}: exit {p.ExitCode}: {stderr.Result}");
        return stdout;
    }
}
