using Sandbox.Isolation.Cgroups.V2;

namespace Sandbox.Isolation.Tests;

/// <summary>Where sandbox cgroups go on a unified hierarchy, from /proc/self/cgroup and systemd's delegation mark.</summary>
public sealed class PlacementRootTests
{
    private const string Mount = "/sys/fs/cgroup";

    private static Func<string, bool> Delegated(params string[] dirs) => d => dirs.Contains(d);

    [Fact]
    public void Own_cgroup_line_is_the_unified_one()
    {
        Assert.Equal("/system.slice/sandboxd.service", PlacementRoot.OwnCgroup("12:pids:/x\n0::/system.slice/sandboxd.service\n"));
        Assert.Null(PlacementRoot.OwnCgroup("4:memory:/\n"));
    }

    [Fact]
    public void The_root_of_a_cgroup_namespace_or_hierarchy_is_the_mount()
    {
        Assert.Equal(Mount, PlacementRoot.Resolve(Mount, "/", Delegated()));
        Assert.Equal(Mount, PlacementRoot.Resolve(Mount, null, Delegated()));
    }

    [Fact]
    public void A_service_in_a_subgroup_of_its_delegated_cgroup_places_sandboxes_beside_itself()
    {
        // systemd 254+ with Delegate=yes and DelegateSubgroup=daemon.
        Assert.Equal($"{Mount}/system.slice/sandboxd.service",
            PlacementRoot.Resolve(Mount, "/system.slice/sandboxd.service/daemon", Delegated($"{Mount}/system.slice/sandboxd.service")));
    }

    [Fact]
    public void A_service_in_the_root_of_its_delegated_cgroup_uses_the_mount()
    {
        // systemd before 254: the next main process would be placed in the service's root, refused once it has controllers.
        Assert.Equal(Mount, PlacementRoot.Resolve(Mount, "/system.slice/sandboxd.service", Delegated($"{Mount}/system.slice/sandboxd.service")));
    }

    [Fact]
    public void A_delegated_scope_is_used_with_its_processes_moved_to_a_leaf_later()
    {
        Assert.Equal($"{Mount}/system.slice/run-1.scope",
            PlacementRoot.Resolve(Mount, "/system.slice/run-1.scope", Delegated($"{Mount}/system.slice/run-1.scope")));
    }

    [Fact]
    public void Without_delegation_the_mount_root_is_used()
    {
        Assert.Equal(Mount, PlacementRoot.Resolve(Mount, "/user.slice/user-0.slice/session-3.scope", Delegated()));
    }

    [Fact]
    public void The_delegation_mark_is_read_from_the_trusted_xattr()
    {
        // Root may set trusted.* xattrs on ext4/tmpfs, as systemd does on cgroupfs.
        var dir = Directory.CreateTempSubdirectory("delegated-").FullName;
        try
        {
            Assert.False(PlacementRoot.IsDelegated(dir));
            PlacementRoot.MarkDelegated(dir);
            Assert.True(PlacementRoot.IsDelegated(dir));
            Directory.CreateDirectory(Path.Combine(dir, "daemon"));
            Assert.Equal(dir, PlacementRoot.Resolve("/", dir + "/daemon", PlacementRoot.IsDelegated));
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }
}
