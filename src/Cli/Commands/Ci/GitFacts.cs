using System.Diagnostics;

namespace Sandbox.Cli.Commands.Ci;

/// <summary>What the run's defaults read from the repository's git work tree (branch and commit); nothing when it is
/// not one. Never trust: these only fill the ref and sha the policy sees when the command line does not say.</summary>
internal static class GitFacts
{
    public static string? Branch(string dir) => Git(dir, "symbolic-ref", "--short", "-q", "HEAD");

    public static string? Commit(string dir) => Git(dir, "rev-parse", "-q", "--verify", "HEAD");

    private static string? Git(string dir, params string[] args)
    {
        if (!Directory.Exists(Path.Combine(dir, ".git")) && !File.Exists(Path.Combine(dir, ".git")))
            return null;
        var psi = new ProcessStartInfo("git") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add("-C");
        psi.ArgumentList.Add(dir);
        foreach (var a in args) psi.ArgumentList.Add(a);
        try
        {
            using var p = Process.Start(psi)!;
            var output = p.StandardOutput.ReadToEnd().Trim();
            p.WaitForExit();
            return p.ExitCode == 0 && output.Length > 0 ? output : null;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return null;
        }
    }
}
