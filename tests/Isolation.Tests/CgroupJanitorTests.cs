using System.Diagnostics;
using Sandbox.Isolation.Cgroups;

namespace Sandbox.Isolation.Tests;

/// <summary>The janitor on this host's real cgroup hierarchy (v1/hybrid here; v2 in the guest-VM matrix): it removes
/// what a dead owner left and never what a live process owns.</summary>
public sealed class CgroupJanitorTests : IAsyncDisposable
{
    private const string Parent = "sandbox-janitor-test";
    private static CgroupLayout Host => CgroupLayout.Host;

    private static IEnumerable<string> Directories(SandboxId id) => Host.Version == CgroupVersion.V2
        ? [Path.Combine(Host.UnifiedRoot!, Parent, id.Value)]
        : Host.V1Mounts.Values.Distinct().Select(m => Path.Combine(m, Parent, id.Value));

    /// <summary>What an owner killed with SIGKILL leaves: the directories, no lock, no task.</summary>
    private static SandboxId DeadOwnersCgroup()
    {
        var id = SandboxId.New();
        foreach (var dir in Directories(id))
            Directory.CreateDirectory(dir);
        return id;
    }

    [Fact]
    public void An_empty_cgroup_whose_owner_died_is_removed_on_every_hierarchy()
    {
        var id = DeadOwnersCgroup();
        Assert.True(CgroupJanitor.RemoveStale(Host, Parent) >= 1);
        Assert.All(Directories(id), d => Assert.False(Directory.Exists(d), d));
    }

    [Fact]
    public async Task A_live_owners_empty_cgroup_is_left_alone()
    {
        // Empty is not enough: between mkdir and moving bwrap in, a live owner's cgroup has no task.
        var id = SandboxId.New();
        var cgroup = CgroupFactory.Create(Host, Parent, id, ResourceLimits.Default);
        try
        {
            CgroupJanitor.RemoveStale(Host, Parent);
            Assert.All(Directories(id), d => Assert.True(Directory.Exists(d), d));
            Assert.Null(CgroupFactory.Open(Host, Parent, id));
        }
        finally
        {
            await cgroup.DisposeAsync();
        }
        Assert.All(Directories(id), d => Assert.False(Directory.Exists(d), d));
    }

    [Fact]
    public async Task A_cgroup_with_tasks_left_is_not_the_janitors()
    {
        var id = DeadOwnersCgroup();
        using var sleeper = Process.Start("sleep", "600");
        try
        {
            foreach (var dir in Directories(id))
                File.WriteAllText(Path.Combine(dir, "cgroup.procs"), sleeper.Id.ToString());
            CgroupJanitor.RemoveStale(Host, Parent);
            Assert.All(Directories(id), d => Assert.True(Directory.Exists(d), d));
        }
        finally
        {
            sleeper.Kill();
            await sleeper.WaitForExitAsync();
        }
        // Taken over (the owner is dead), it is killed and removed like any leftover.
        var taken = CgroupFactory.Open(Host, Parent, id);
        Assert.NotNull(taken);
        await taken!.DisposeAsync();
        Assert.All(Directories(id), d => Assert.False(Directory.Exists(d), d));
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var id in CgroupFactory.List(Host, Parent))
        {
            if (CgroupFactory.Open(Host, Parent, id) is { } left)
                await left.DisposeAsync();
        }
    }
}
