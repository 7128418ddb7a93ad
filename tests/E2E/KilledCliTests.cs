using System.Diagnostics;
using Sandbox.Isolation;

namespace Sandbox.E2E;

/// <summary>A CLI killed with SIGKILL mid-run leaves an empty cgroup (bwrap --die-with-parent takes the processes); the
/// next engine start-up (another `sandbox run --local`) removes it, and never touches a live CLI's sandbox.</summary>
[Collection(SerialCollection.Name)]
public sealed class KilledCliTests
{
    private static bool Populated(SandboxId id) => Harness.CgroupLeftovers(id).Any(d => CgroupTree.Procs(d).Count > 0);

    private static Process Cli(params string[] args) =>
        Process.Start(new ProcessStartInfo("dotnet", [Path.Combine(AppContext.BaseDirectory, "sandbox.dll"), .. args]) { RedirectStandardOutput = true })!;

    /// <summary>The sandbox of a CLI: the cgroup its child bwrap sits in (other sandboxes may come and go on this
    /// host meanwhile, so "the new cgroup" would not do).</summary>
    private static SandboxId? SandboxOf(Process cli)
    {
        foreach (var dir in Directory.EnumerateDirectories("/proc").Where(d => int.TryParse(Path.GetFileName(d), out _)))
        {
            try
            {
                var stat = File.ReadAllText(Path.Combine(dir, "stat"));
                if (stat[(stat.LastIndexOf(')') + 2)..].Split(' ')[1] != cli.Id.ToString())
                    continue;
                foreach (var line in File.ReadAllLines(Path.Combine(dir, "cgroup")))
                {
                    var at = line.IndexOf("/sandbox/", StringComparison.Ordinal);
                    // "/sandbox/<id>" for a one-shot run, "/sandbox/<id>/agent" for bwrap of a long-lived one.
                    if (at >= 0 && SandboxId.TryParse(line[(at + "/sandbox/".Length)..].Split('/')[0], out var id))
                        return id;
                }
            }
            catch (IOException)
            {
                // The process exited while it was read.
            }
        }
        return null;
    }

    /// <summary>Starts `sandbox run --local -- sleep 600` and returns it with its sandbox's id once that runs.</summary>
    private static async Task<(Process Cli, SandboxId Id)> StartSleeperAsync()
    {
        var cli = Cli("run", "--local", "--trusted", "--", "sleep", "600");
        for (var i = 0; i < 600; i++)
        {
            if (SandboxOf(cli) is { } id && Populated(id))
                return (cli, id);
            Assert.False(cli.HasExited, $"the CLI exited early with {(cli.HasExited ? cli.ExitCode : 0)}");
            await Task.Delay(100);
        }
        cli.Kill();
        throw new Xunit.Sdk.XunitException("the CLI's sandbox did not show up within 60 s");
    }

    /// <summary>A bounded poll (the kernel has no event for an empty v1 cgroup); generous, as in LeakTests: the host is
    /// shared, and a loaded one has taken seconds to tear a sandbox's pid namespace down.</summary>
    private static async Task WaitEmptyAsync(SandboxId id)
    {
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (Populated(id) && DateTime.UtcNow < deadline)
            await Task.Delay(50);
        Assert.False(Populated(id), $"sandbox {id} still has tasks after its owner was killed");
    }

    [Fact]
    public async Task A_new_run_removes_what_a_killed_cli_left_and_leaves_a_live_clis_sandbox_alone()
    {
        var (killed, killedId) = await StartSleeperAsync();
        var (live, liveId) = await StartSleeperAsync();
        try
        {
            killed.Kill(); // SIGKILL: nothing of the CLI's clean-up runs
            await killed.WaitForExitAsync();
            await WaitEmptyAsync(killedId);
            Assert.NotEmpty(Harness.CgroupLeftovers(killedId));

            using var next = Cli("run", "--local", "--trusted", "--", "true");
            await next.WaitForExitAsync();
            Assert.Equal(0, next.ExitCode);

            Assert.Empty(Harness.CgroupLeftovers(killedId));
            Assert.True(Populated(liveId), "the live CLI's sandbox was touched");
            Assert.False(live.HasExited);
        }
        finally
        {
            killed.Dispose();
            live.Kill();
            await live.WaitForExitAsync();
            live.Dispose();
        }
        await WaitEmptyAsync(liveId);
        using (var last = Cli("run", "--local", "--trusted", "--", "true"))
            await last.WaitForExitAsync();
        Assert.Empty(Harness.CgroupLeftovers(liveId));
    }
}
