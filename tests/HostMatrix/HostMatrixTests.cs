using Xunit.Abstractions;

namespace Sandbox.HostMatrix;

/// <summary>
/// The project installed as the README says on a systemd host with the unified cgroup v2 hierarchy, and run where
/// users run it (docs/host-matrix.md): scenario a = systemd, b = a cgroup namespace with processes at its root (a
/// privileged container), c = a delegated subtree without the cpu controller. The smoke set (install, a's first
/// sandbox, b) runs by default; the rest with SANDBOX_HOSTMATRIX=full. All scenarios run in one guest boot.
/// </summary>
public sealed class HostMatrixTests(ITestOutputHelper output)
{
    private async Task AssertScenario(string name)
    {
        var run = await GuestRun.Get();
        var result = run.Scenario(name);
        output.WriteLine(result.Log);
        foreach (var line in run.Output.Split('\n').Where(l => l.StartsWith("@@hostmatrix host:", StringComparison.Ordinal)))
            output.WriteLine(line);
        Assert.True(result.Passed, $"host matrix scenario '{name}' ({run.Mode} run) failed: {result.Reason}\n{result.Log}");
    }

    [HostMatrixFact]
    public Task Install_service_installs_and_starts_sandboxd_under_systemd() => AssertScenario("install");

    [HostMatrixFact]
    public Task Systemd_v2_first_sandbox_socket_activates_sandboxd() => AssertScenario("a_first_sandbox");

    [HostMatrixFact]
    public Task Cgroup_namespace_with_processes_at_its_root_runs_a_local_sandbox() => AssertScenario("b_cgroupns_root");

    [HostMatrixFact(fullOnly: true)]
    public Task Systemd_v2_memory_pids_and_timeout_limits() => AssertScenario("a_limits");

    [HostMatrixFact(fullOnly: true)]
    public Task Systemd_stop_deletes_every_sandbox() => AssertScenario("a_stop_deletes");

    [HostMatrixFact(fullOnly: true)]
    public Task Systemd_restart_reattaches_a_long_lived_sandbox() => AssertScenario("a_restart_reattaches");

    [HostMatrixFact(fullOnly: true)]
    public Task Delegated_subtree_without_cpu_runs_and_doctor_tells_the_truth() => AssertScenario("c_delegated_without_cpu");
}
