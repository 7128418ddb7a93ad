using System.Text;
using Sandbox.Isolation.Interop;

namespace Sandbox.Isolation.Cgroups.V2;

/// <summary>Where on the unified hierarchy this process may create cgroups (the directory that holds the cgroup
/// parent, e.g. "sandboxd/"), read from /proc/self/cgroup:
/// <list type="bullet">
/// <item>own cgroup "/": the mount root, which is the hierarchy's root or the root of this process's cgroup
/// namespace (a container with a private cgroup namespace owns everything it sees);</item>
/// <item>own cgroup below a delegated one (systemd marks a Delegate=yes unit's cgroup with the xattr
/// trusted.delegate; DelegateSubgroup= puts the service's processes in a child of it): that delegated cgroup;</item>
/// <item>own cgroup itself delegated and not a systemd service (a scope, a container manager's cgroup): it, with its
/// processes moved to a leaf when controllers are enabled;</item>
/// <item>otherwise (not delegated, or the root of a delegated service on systemd before 254 — on restart systemd puts
/// the new main process in the service's root cgroup, which the kernel refuses once controllers are enabled below it,
/// so sandboxes that survived would keep the service from starting): the mount root, as before.</item>
/// </list></summary>
internal static class PlacementRoot
{
    public const string DelegateXattr = "trusted.delegate";

    public static string Resolve(string mount) =>
        Resolve(mount, OwnCgroup(File.ReadAllText("/proc/self/cgroup")), IsDelegated);

    internal static string Resolve(string mount, string? ownCgroup, Func<string, bool> isDelegated)
    {
        if (ownCgroup is null || ownCgroup == "/")
            return mount;
        var own = Path.Combine(mount, ownCgroup.TrimStart('/'));
        for (var dir = Path.GetDirectoryName(own); dir is not null && dir.Length > mount.Length; dir = Path.GetDirectoryName(dir))
        {
            if (isDelegated(dir))
                return dir;
        }
        if (isDelegated(own) && !own.EndsWith(".service", StringComparison.Ordinal))
            return own;
        return mount;
    }

    /// <summary>The path of the "0::" line (the unified hierarchy), or null on a v1-only host.</summary>
    internal static string? OwnCgroup(string procSelfCgroup) => procSelfCgroup
        .Split('\n', StringSplitOptions.RemoveEmptyEntries)
        .Where(line => line.StartsWith("0::", StringComparison.Ordinal))
        .Select(line => line[3..].Replace(" (deleted)", ""))
        .FirstOrDefault();

    internal static unsafe bool IsDelegated(string directory)
    {
        var buffer = stackalloc byte[8];
        var n = Libc.GetXattr(directory, DelegateXattr, buffer, 8);
        return n > 0 && buffer[0] == (byte)'1';
    }

    /// <summary>Marks a directory as delegated the way systemd does (tests build fake hierarchies with it).</summary>
    internal static unsafe void MarkDelegated(string directory)
    {
        var one = Encoding.ASCII.GetBytes("1");
        fixed (byte* p = one)
        {
            if (Libc.SetXattr(directory, DelegateXattr, p, 1, 0) != 0)
                throw Errno.Fail($"setxattr {DelegateXattr} on {directory}");
        }
    }
}
