namespace Sandbox.HostMatrix;

/// <summary>The result protocol between the guest's scenario script and the tests (no guest needed).</summary>
public sealed class GuestRunParseTests
{
    [Fact]
    public void Pass_and_fail_lines_carry_their_scenario_log_and_reason()
    {
        var results = GuestRun.Parse(string.Join('\n',
            "boot noise",
            "@@hostmatrix begin install",
            "    | ==> installing",
            "@@hostmatrix pass install",
            "@@hostmatrix begin b_cgroupns_root",
            "    | $ sandbox run --local -- echo hi",
            "    | sandbox: cgroup busy",
            "@@hostmatrix fail b_cgroupns_root: 'sandbox run' exited 125, expected 0",
            "@@hostmatrix done"));

        Assert.True(results["install"].Passed);
        Assert.Equal("==> installing\n", results["install"].Log);
        Assert.False(results["b_cgroupns_root"].Passed);
        Assert.Equal("'sandbox run' exited 125, expected 0", results["b_cgroupns_root"].Reason);
        Assert.Contains("cgroup busy", results["b_cgroupns_root"].Log);
        Assert.Equal(2, results.Count);
    }
}
