using System.Text;
using Sandbox.Isolation;
using Sandbox.Isolation.Container;

namespace Sandbox.E2E;

/// <summary>Container tier: a long-lived sandbox made to outlive its owner (DieWithOwner = false: sandboxd's sandboxes
/// and its pools) starts under the same rlimits as any other. Where root may, the host sets them on the held agent with
/// prlimit(2), as for a sandbox that dies with its owner, instead of exec'ing util-linux prlimit at the head of the
/// launch chain (ContainerLauncher says why that is safe for an agent and not for a one-shot's workload).</summary>
public sealed class OutlivingSandboxTests
{
    [Fact]
    public async Task A_sandbox_that_outlives_its_owner_runs_its_execs_under_the_rlimits()
    {
        using var guard = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        var channels = Directory.CreateTempSubdirectory("sandbox-e2e-channels-").FullName;
        try
        {
            var driver = new BubblewrapDriver(new BubblewrapOptions { AgentDirectory = Harness.AgentDirectory, ChannelDirectory = channels });
            var spec = new SandboxSpec { DieWithOwner = false, Limits = ResourceLimits.Default with { OpenFiles = 512, DiskMiB = 32 } };
            await using var sandbox = await driver.CreateAsync(spec, guard.Token);
            var stdout = new MemoryStream();
            var process = await sandbox.ExecAsync(Harness.Python(
                "import resource as r\nprint(*r.getrlimit(r.RLIMIT_NOFILE), *r.getrlimit(r.RLIMIT_FSIZE), *r.getrlimit(r.RLIMIT_CORE))"),
                new ProcessIO { Stdout = stdout }, guard.Token);
            var status = await process.WaitAsync(guard.Token);
            Assert.Equal(0, status.ExitCode);
            Assert.Equal($"512 512 {32 << 20} {32 << 20} 0 0\n", Encoding.UTF8.GetString(stdout.ToArray()));
        }
        finally
        {
            Directory.Delete(channels, recursive: true);
        }
    }
}
