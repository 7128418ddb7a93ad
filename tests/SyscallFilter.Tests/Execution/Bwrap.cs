using System.Diagnostics;

namespace Sandbox.SyscallFilter.Tests.Execution;

/// <summary>Runs a command under a compiled filter with <c>bwrap --seccomp 3</c>, the way the container driver does.</summary>
internal static class Bwrap
{
    public const string Path = "/usr/bin/bwrap";
    public const string Python = "/usr/bin/python3";

    private static readonly Lazy<string?> WhyUnusable = new(Probe);

    /// <summary>Null when bwrap can start a user-namespace sandbox here, else the reason.</summary>
    public static string? Unusable => WhyUnusable.Value;

    public sealed record Result(int ExitCode, string Stdout, string Stderr);

    public static Result Run(BpfProgram program, params string[] command)
    {
        var file = System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"seccomp-{Guid.NewGuid():N}.bpf");
        File.WriteAllBytes(file, program.ToBytes());
        try
        {
            // sh only opens the program file as fd 3 and execs bwrap; the command travels as argv, never as shell text.
            string[] bwrap = [Path, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp", "--unshare-user", "--seccomp", "3", "--", .. command];
            return Start(["/bin/sh", "-c", "f=$1; shift; exec \"$@\" 3<\"$f\"", "sh", file, .. bwrap]);
        }
        finally
        {
            File.Delete(file);
        }
    }

    private static Result Start(string[] argv)
    {
        var info = new ProcessStartInfo(argv[0]) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in argv[1..])
        {
            info.ArgumentList.Add(arg);
        }

        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(TimeSpan.FromSeconds(20)))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{string.Join(' ', argv)} did not exit within 20 s");
        }

        return new Result(process.ExitCode, stdout.Result, stderr.Result);
    }

    private static string? Probe()
    {
        if (!OperatingSystem.IsLinux() || System.Runtime.InteropServices.RuntimeInformation.OSArchitecture != System.Runtime.InteropServices.Architecture.X64)
        {
            return "needs Linux on x86_64";
        }

        if (!File.Exists(Path))
        {
            return $"{Path} is not installed";
        }

        try
        {
            var result = Start([Path, "--ro-bind", "/", "/", "--unshare-user", "--", "/bin/true"]);
            return result.ExitCode == 0 ? null : $"bwrap cannot create a sandbox here (exit {result.ExitCode}): {result.Stderr.Trim()}";
        }
        catch (Exception e)
        {
            return $"bwrap cannot start: {e.Message}";
        }
    }
}

/// <summary>
/// A fact that reports as skipped, with the reason, where bwrap cannot run a sandbox, or where a program the test runs
/// (<see cref="Needs"/>) is not installed.
/// </summary>
public sealed class BwrapFactAttribute : FactAttribute
{
    public BwrapFactAttribute()
    {
        if (Bwrap.Unusable is { } reason)
        {
            Skip = reason;
        }
    }

    /// <summary>Absolute paths of programs the test runs, separated by spaces.</summary>
    public string? Needs
    {
        get;
        set
        {
            field = value;
            var missing = (value ?? "").Split(' ', StringSplitOptions.RemoveEmptyEntries).Where(p => !File.Exists(p)).ToArray();
            if (Skip is null && missing.Length > 0)
            {
                Skip = $"not installed: {string.Join(", ", missing)}";
            }
        }
    }
}
