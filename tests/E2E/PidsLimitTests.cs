using Sandbox.Isolation;

namespace Sandbox.E2E;

/// <summary>`--pids N` means N processes and threads of the workload: bwrap's own two tasks (the outer bwrap, moved
/// into the cgroup before it clones, and its init) are not taken from it.</summary>
public sealed class PidsLimitTests
{
    /// <summary>Forks sleeping children until the kernel refuses; prints how many tasks the workload held (itself + children).</summary>
    private const string CountTasks =
        "import os\nn=1\ntry:\n  while n < 200:\n    if os.fork()==0:\n      import time; time.sleep(30); os._exit(0)\n    n+=1\nexcept OSError as e:\n  print(n, e.errno)";

    [Theory]
    [InlineData(8)]
    [InlineData(16)]
    public async Task One_shot_workload_gets_exactly_its_pids_limit(int pids)
    {
        var spec = new SandboxSpec { Limits = ResourceLimits.Default with { PidsMax = pids, WallTime = TimeSpan.FromSeconds(20) } };
        var r = await Harness.RunAsync(ExecutionMode.OneShot, Harness.Python(CountTasks), spec);
        var fields = r.Stdout.Trim().Split(' ');
        Assert.True(fields.Length == 2, $"stdout={r.Stdout} stderr={r.Stderr}");
        Assert.Equal("11", fields[1]); // EAGAIN: the pids controller refused the fork
        Assert.Equal(pids, int.Parse(fields[0]));
    }

    /// <summary>In a long-lived sandbox the agent's threads share the workload's uid (RLIMIT_NPROC counts them): the
    /// workload still gets its N (one less when the agent's thread pool grew after the exec started).</summary>
    [Theory]
    [InlineData(16)]
    [InlineData(40)]
    public async Task Long_lived_workload_gets_its_pids_limit(int pids)
    {
        var spec = new SandboxSpec { Limits = ResourceLimits.Default with { PidsMax = pids, WallTime = TimeSpan.FromSeconds(20) } };
        var r = await Harness.RunAsync(ExecutionMode.Agent, Harness.Python(CountTasks), spec);
        var fields = r.Stdout.Trim().Split(' ');
        Assert.True(fields.Length == 2, $"stdout={r.Stdout} stderr={r.Stderr}");
        Assert.Equal("11", fields[1]); // EAGAIN: RLIMIT_NPROC refused the fork
        Assert.InRange(int.Parse(fields[0]), pids - 1, pids);
    }
}
