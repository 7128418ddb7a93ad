using Sandbox.Isolation.Cgroups;

namespace Sandbox.Isolation.Tests;

public sealed class CgroupLayoutTests
{
    private const string Hybrid = """
        30 24 0:26 / /sys/fs/cgroup ro,nosuid,nodev,noexec - tmpfs tmpfs ro,mode=755
        31 30 0:27 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime - cgroup2 cgroup2 rw
        33 30 0:29 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime - cgroup cgroup rw,memory
        34 30 0:30 / /sys/fs/cgroup/pids rw,nosuid,nodev,noexec,relatime - cgroup cgroup rw,pids
        35 30 0:31 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime - cgroup cgroup rw,cpu,cpuacct
        36 30 0:32 / /sys/fs/cgroup/freezer rw,nosuid,nodev,noexec,relatime - cgroup cgroup rw,freezer
        """;

    [Fact]
    public void Hybrid_host_uses_the_v1_controllers_and_knows_co_mounted_ones()
    {
        var layout = CgroupLayout.Parse(Hybrid);
        Assert.Equal(CgroupVersion.V1, layout.Version);
        Assert.Equal("/sys/fs/cgroup/cpu,cpuacct", layout.V1Mounts["cpu"]);
        Assert.Equal("/sys/fs/cgroup/cpu,cpuacct", layout.V1Mounts["cpuacct"]);
        Assert.Equal("/sys/fs/cgroup/freezer", layout.V1Mounts["freezer"]);
        Assert.StartsWith("hybrid", layout.Describe());
    }

    [Fact]
    public void Unified_hierarchy_with_controllers_is_v2()
    {
        var dir = Directory.CreateTempSubdirectory("cgroup2-");
        try
        {
            File.WriteAllText(Path.Combine(dir.FullName, "cgroup.controllers"), "cpuset cpu io memory hugetlb pids rdma misc\n");
            var layout = CgroupLayout.Parse($"29 23 0:26 / {dir.FullName} rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate\n");
            Assert.Equal(CgroupVersion.V2, layout.Version);
            Assert.Equal(dir.FullName, layout.UnifiedMount);
        }
        finally
        {
            dir.Delete(true);
        }
    }

    [Fact]
    public void No_controllers_is_none()
    {
        var layout = CgroupLayout.Parse("22 1 0:21 / /proc rw - proc proc rw\n");
        Assert.Equal(CgroupVersion.None, layout.Version);
    }

    [Fact]
    public void Cpu_quota_is_rounded_up_to_whole_microseconds_of_a_100ms_period()
    {
        Assert.Equal(50_000, CgroupFactory.CpuQuotaMicroseconds(0.5));
        Assert.Equal(1_000, CgroupFactory.CpuQuotaMicroseconds(0.01));
        Assert.Equal(200_000, CgroupFactory.CpuQuotaMicroseconds(2));
    }
}
