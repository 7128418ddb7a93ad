using System.Text;
using Microsoft.Extensions.Logging;
using Sandbox.Core;
using Sandbox.Isolation;
using Sandbox.KataShim.Rootfs;

namespace Sandbox.KataShim.Tasks;

/// <summary>Makes the policy's choice visible: a line in containerd's log and a small record next to the container's
/// rootfs (`/run/sandbox-shim/NS/ID/tier`: "tier decision-id"), which tests and operators read.</summary>
internal static class TierReport
{
    public static void Write(string ns, string id, SandboxEntry entry, SandboxTier? hint, ILogger logger)
    {
        var tier = TierNames.ToPolicy(entry.Tier);
        ShimLog.TierChosen(logger, id, tier, entry.Decision.DecisionId, hint is { } h ? TierNames.ToPolicy(h) : "auto", entry.Id.Value);
        var dir = ShimPaths.ContainerDir(ns, id);
        ShimPaths.CreateTraversable(dir);
        File.WriteAllText(Path.Combine(dir, "tier"), $"{tier} {entry.Decision.DecisionId}\n", Encoding.UTF8);
    }

    /// <summary>Removes the record and the container's directory when nothing else is left in it. Never recursive:
    /// a rootfs that failed to unmount must not have its contents deleted through the mount.</summary>
    public static void Remove(string ns, string id)
    {
        var dir = ShimPaths.ContainerDir(ns, id);
        if (!Directory.Exists(dir))
            return;
        File.Delete(Path.Combine(dir, "tier"));
        if (!Directory.EnumerateFileSystemEntries(dir).Any())
            Directory.Delete(dir);
    }
}
