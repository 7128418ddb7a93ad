using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Sandbox.Isolation.Container;
using Sandbox.KataShim.Protocol.Task;
using Sandbox.KataShim.Rootfs;

namespace Sandbox.KataShim.Cli;

/// <summary>`delete`: containerd runs it after every task deletion and when a shim died (SIGKILL included). It cleans
/// what the shim may have left for this id only — the snapshot mount, the tier record — and removes sandbox cgroups
/// whose owner died (their processes died with the shim: sandboxes die with their owner). Idempotent; stdout is a
/// serialized DeleteResponse.</summary>
internal static class DeleteCommand
{
    public static int Run(ShimArguments args)
    {
        var problems = new List<string>();
        try
        {
            SnapshotMounts.UnmountAll(ShimPaths.RootfsFor(args.Namespace, args.Id));
            Tasks.TierReport.Remove(args.Namespace, args.Id);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or Isolation.SandboxException)
        {
            problems.Add(e.Message);
        }
        try
        {
            new BubblewrapDriver(new BubblewrapOptions { CgroupParent = Daemon.ShimDaemon.CgroupParent }).RemoveStaleCgroups();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or Isolation.SandboxException)
        {
            problems.Add("cgroups: " + e.Message);
        }
        // containerd logs stderr as cleanup warnings.
        foreach (var p in problems)
            Console.Error.WriteLine(p);
        var response = new DeleteResponse { ExitStatus = 137, ExitedAt = Timestamp.FromDateTime(DateTime.UtcNow) };
        using var stdout = Console.OpenStandardOutput();
        response.WriteTo(stdout);
        return 0;
    }
}
