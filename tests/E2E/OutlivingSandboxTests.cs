using System.Text;
using Sandbox.Isolation;
using Sandbox.Isolation.Container;

namespace Sandbox.E2E;

/// <summary>Container tier: a long-lived sandbox made to outlive its owner (DieWithOwner = false: sandboxd's sandboxes
/// and its pools) starts under the same rlimits as any other: its agent sets them on itself before it serves anything
/// (a one-shot's are set by the launch helper before bwrap starts). And an agent bundle without the first stage's
/// start-up build still runs held execs.</summary>
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

    [Fact]
    public async Task A_bundle_without_the_start_up_build_of_the_first_stage_still_runs_held_execs()
    {
        // scripts/build-agent.sh adds sandbox-agent-exec; a bundle made otherwise runs the agent's own binary as the
        // first stage: same program, same checks, only a slower start.
        using var guard = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        var source = Harness.AgentDirectory ?? Sandbox.Isolation.Agent.AgentBundle.Locate(null).Directory;
        var bundle = Directory.CreateTempSubdirectory("sandbox-e2e-bundle-").FullName;
        try
        {
            File.Copy(Path.Combine(source, "sandbox-agent"), Path.Combine(bundle, "sandbox-agent"));
            // The host's launch helper starts every container (not part of what this test leaves out).
            File.Copy(Path.Combine(source, Sandbox.Isolation.Agent.AgentBundle.LaunchHelperName), Path.Combine(bundle, Sandbox.Isolation.Agent.AgentBundle.LaunchHelperName));
            Directory.CreateDirectory(Path.Combine(bundle, "lib"));
            foreach (var lib in Directory.GetFiles(Path.Combine(source, "lib")))
                File.Copy(lib, Path.Combine(bundle, "lib", Path.GetFileName(lib)));
            // The sandbox's users read and run the bundle through its read-only bind mount.
            foreach (var path in Directory.EnumerateFileSystemEntries(bundle, "*", SearchOption.AllDirectories).Append(bundle))
                File.SetUnixFileMode(path, File.GetUnixFileMode(path) | UnixFileMode.OtherRead | UnixFileMode.GroupRead
                    | (Directory.Exists(path) || File.GetUnixFileMode(path).HasFlag(UnixFileMode.UserExecute) ? UnixFileMode.OtherExecute | UnixFileMode.GroupExecute : 0));
            Assert.False(File.Exists(Path.Combine(bundle, "sandbox-agent-exec")));
            var driver = new BubblewrapDriver(new BubblewrapOptions { AgentDirectory = bundle });
            await using var sandbox = await driver.CreateAsync(new SandboxSpec(), guard.Token);
            var stdout = new MemoryStream();
            var stderr = new MemoryStream();
            var process = await sandbox.ExecAsync(Harness.Sh("id -u; cat /proc/self/cgroup"), new ProcessIO { Stdout = stdout, Stderr = stderr }, guard.Token);
            var status = await process.WaitAsync(guard.Token);
            var output = Encoding.UTF8.GetString(stdout.ToArray());
            Assert.True(status.ExitCode == 0, $"exit {status.ExitCode}: {output}{Encoding.UTF8.GetString(stderr.ToArray())}");
            var lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
            // The sandbox's user, in an exec cgroup of its own (named by its exec id, not the agent's) from the start,
            // right below the root of the sandbox's cgroup namespace (the sandbox's own cgroup).
            Assert.Equal("1000", lines[0]);
            foreach (var controller in new[] { "memory", "pids" })
            {
                var path = lines.Skip(1).Select(l => l.Split(':', 3)).Single(p => p.Length == 3 && p[1].Split(',').Contains(controller))[2];
                Assert.Matches("^/e[0-9a-f]+-[0-9]+$", path);
            }
        }
        finally
        {
            Directory.Delete(bundle, recursive: true);
        }
    }
}
