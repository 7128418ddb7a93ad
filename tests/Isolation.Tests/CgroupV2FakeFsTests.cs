using Sandbox.Isolation.Cgroups.V2;

namespace Sandbox.Isolation.Tests;

/// <summary>The cgroup v2 file protocol, against a fake cgroupfs (a temp directory with cgroup.controllers,
/// cgroup.subtree_control and cgroup.procs files) so it is tested on this v1/hybrid host too. Writes open the existing
/// control file with O_APPEND, so the fake keeps each write as a line: what the kernel would have been sent, in order.
/// The guest-VM host matrix runs the same code against real cgroup2.</summary>
public sealed class CgroupV2FakeFsTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("fake-cgroup2-").FullName;

    public void Dispose() => Directory.Delete(_root, true);

    /// <summary>A cgroup directory as the kernel presents it: controllers offered, none enabled, these processes.</summary>
    private string Cgroup(string relative, string controllers, string procs = "", bool namespaceRoot = true)
    {
        var dir = Path.Combine(_root, relative);
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, "cgroup.controllers"), controllers + "\n");
        File.WriteAllText(Path.Combine(dir, "cgroup.subtree_control"), "");
        File.WriteAllText(Path.Combine(dir, "cgroup.procs"), procs);
        if (namespaceRoot || relative != ".")
            File.WriteAllText(Path.Combine(dir, "cgroup.type"), "domain\n");
        return dir;
    }

    private static string[] Writes(string dir, string file) =>
        File.Exists(Path.Combine(dir, file)) ? File.ReadAllLines(Path.Combine(dir, file)) : [];

    private static ResourceLimits Limits(double cpus = 0, bool cpuRequired = true) =>
        ResourceLimits.Default with { MemoryMiB = 64, PidsMax = 20, Cpus = cpus, CpuQuotaRequired = cpuRequired };

    [Fact]
    public void Controllers_are_enabled_one_per_write_on_every_level_and_cpu_when_offered()
    {
        Cgroup(".", "cpuset cpu io memory pids");
        var parent = Cgroup("sandbox", "cpu memory pids");
        var id = SandboxId.New();
        CgroupV2.Create(_root, "sandbox", id, Limits(cpus: 0.5));
        Assert.Equal(["+memory", "+pids", "+cpu"], Writes(_root, "cgroup.subtree_control"));
        Assert.Equal(["+memory", "+pids", "+cpu"], Writes(parent, "cgroup.subtree_control"));
        var dir = Path.Combine(parent, id.Value);
        Assert.Equal((64L << 20).ToString(), File.ReadAllText(Path.Combine(dir, "memory.max")));
        Assert.Equal("20", File.ReadAllText(Path.Combine(dir, "pids.max")));
        Assert.Equal("50000 100000", File.ReadAllText(Path.Combine(dir, "cpu.max")));
    }

    [Fact]
    public void Controllers_already_enabled_are_not_written_again()
    {
        Cgroup(".", "cpu memory pids");
        File.WriteAllText(Path.Combine(_root, "cgroup.subtree_control"), "memory pids cpu\n");
        var parent = Cgroup("sandbox", "cpu memory pids");
        File.WriteAllText(Path.Combine(parent, "cgroup.subtree_control"), "memory pids\n");
        CgroupV2.Create(_root, "sandbox", SandboxId.New(), Limits());
        Assert.Equal(["memory pids cpu"], Writes(_root, "cgroup.subtree_control"));
        Assert.Equal(["memory pids", "+cpu"], Writes(parent, "cgroup.subtree_control"));
    }

    [Fact]
    public void A_delegated_subtree_without_cpu_runs_sandboxes_without_a_cpu_limit()
    {
        Cgroup(".", "memory pids");
        var parent = Cgroup("sandbox", "memory pids");
        CgroupV2.Create(_root, "sandbox", SandboxId.New(), Limits());
        Assert.Equal(["+memory", "+pids"], Writes(_root, "cgroup.subtree_control"));
        Assert.Equal(["+memory", "+pids"], Writes(parent, "cgroup.subtree_control"));
    }

    [Fact]
    public void A_default_cpu_quota_is_left_out_where_cpu_is_not_delegated_and_the_cgroup_says_so()
    {
        Cgroup(".", "memory pids");
        var parent = Cgroup("sandbox", "memory pids");
        var id = SandboxId.New();
        var cgroup = CgroupV2.Create(_root, "sandbox", id, Limits(cpus: 1, cpuRequired: false));
        Assert.False(cgroup.CpuQuotaEnforced);
        Assert.Equal(["+memory", "+pids"], Writes(parent, "cgroup.subtree_control"));
        Assert.False(File.Exists(Path.Combine(parent, id.Value, "cpu.max")));
    }

    [Fact]
    public void A_default_cpu_quota_is_applied_where_cpu_is_delegated()
    {
        Cgroup(".", "cpu memory pids");
        var parent = Cgroup("sandbox", "cpu memory pids");
        var id = SandboxId.New();
        var cgroup = CgroupV2.Create(_root, "sandbox", id, Limits(cpus: 1, cpuRequired: false));
        Assert.True(cgroup.CpuQuotaEnforced);
        Assert.Equal("100000 100000", File.ReadAllText(Path.Combine(parent, id.Value, "cpu.max")));
    }

    [Fact]
    public void A_cpu_limit_where_cpu_is_not_delegated_is_refused_naming_the_cause()
    {
        Cgroup(".", "memory pids");
        Cgroup("sandbox", "memory pids");
        var e = Assert.Throws<SandboxException>(() => CgroupV2.Create(_root, "sandbox", SandboxId.New(), Limits(cpus: 1)));
        Assert.Equal(SandboxErrorCode.Unavailable, e.Code);
        Assert.Contains("cpu controller is not available", e.Message);
        Assert.Contains("did not delegate it", e.Message);
        Assert.Empty(Writes(_root, "cgroup.subtree_control"));
    }

    [Fact]
    public void A_missing_required_controller_is_refused_before_anything_is_created()
    {
        Cgroup(".", "cpu pids");
        var e = Assert.Throws<SandboxException>(() => CgroupV2.Create(_root, "sandbox", SandboxId.New(), Limits()));
        Assert.Contains("memory controller is not available", e.Message);
        Assert.Empty(Directory.EnumerateDirectories(Path.Combine(_root, "sandbox")));
    }

    [Fact]
    public void The_processes_of_a_namespace_root_are_moved_to_a_leaf_before_enabling()
    {
        Cgroup(".", "memory pids", procs: "1\n42\n");
        Cgroup("sandbox", "memory pids");
        Cgroup(SubtreeControllers.LeafForMovedProcesses, ""); // its files, as the kernel creates them at mkdir
        CgroupV2.Create(_root, "sandbox", SandboxId.New(), Limits());
        var moved = Writes(Path.Combine(_root, SubtreeControllers.LeafForMovedProcesses), "cgroup.procs");
        Assert.Contains("1", moved);
        Assert.Contains("42", moved);
        Assert.Equal(["+memory", "+pids"], Writes(_root, "cgroup.subtree_control"));
    }

    [Fact]
    public void The_hierarchy_root_keeps_its_processes()
    {
        // The real root has no cgroup.type and is exempt from the no-internal-process rule.
        Cgroup(".", "memory pids", procs: "1\n", namespaceRoot: false);
        Cgroup("sandbox", "memory pids");
        CgroupV2.Create(_root, "sandbox", SandboxId.New(), Limits());
        Assert.False(Directory.Exists(Path.Combine(_root, SubtreeControllers.LeafForMovedProcesses)));
    }

    [Fact]
    public void A_refused_write_reports_the_kernels_reason_not_a_missing_file()
    {
        // ENOENT from cgroup.subtree_control is what the kernel answers for a controller it does not offer there.
        Cgroup(".", "memory pids");
        var parent = Cgroup("sandbox", "memory pids");
        File.Delete(Path.Combine(parent, "cgroup.subtree_control"));
        var e = Assert.Throws<SandboxException>(() => CgroupV2.Create(_root, "sandbox", SandboxId.New(), Limits()));
        Assert.Contains($"cannot enable the memory controller in {parent}/cgroup.subtree_control", e.Message);
        Assert.Contains("not delegated from above", e.Message);
        Assert.DoesNotContain("Could not find file", e.Message);
    }

    [Fact]
    public void Doctors_probe_says_why_a_sandbox_cgroup_cannot_be_created()
    {
        Cgroup(".", "cpu pids");
        var layout = new Sandbox.Isolation.Cgroups.CgroupLayout(Sandbox.Isolation.Cgroups.CgroupVersion.V2, _root, new Dictionary<string, string>());
        var probe = Sandbox.Isolation.Cgroups.CgroupProbe.Run(layout, "sandbox");
        Assert.False(probe.Ok);
        Assert.Contains("cannot create a sandbox cgroup: the memory controller is not available", probe.Detail);
    }

    [Fact]
    public void Open_takes_a_dead_owners_cgroup_but_not_a_live_ones()
    {
        Cgroup(".", "memory pids");
        Cgroup("sandbox", "memory pids");
        var id = SandboxId.New();
        var live = CgroupV2.Create(_root, "sandbox", id, Limits());
        Assert.Null(CgroupV2.Open(_root, "sandbox", id)); // our own live cgroup counts as another owner's
        Assert.Null(CgroupV2.Open(_root, "sandbox", SandboxId.New()));
        Assert.NotNull(live);
    }
}
