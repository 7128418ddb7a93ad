using Sandbox.Isolation.Native;

namespace Sandbox.Isolation.Container;

/// <summary>The process of a one-shot run, for signals: bwrap's init (PID 1 inside) neither runs the command itself nor
/// forwards signals, so a signal meant for the workload goes to the init's first child, the command bwrap started.
/// Orphans the init adopts later come after it in the children list; once the command has exited the init and the
/// whole sandbox follow, so there is no one else to signal.</summary>
internal static class OneShotWorkload
{
    /// <summary>Sends <paramref name="signal"/> to the workload under the init <paramref name="initPid"/>; false when there
    /// is none (not forked yet, or already gone).</summary>
    public static bool Signal(int initPid, int signal)
    {
        string children;
        try
        {
            children = File.ReadAllText($"/proc/{initPid}/task/{initPid}/children");
        }
        catch (IOException)
        {
            return false;
        }
        var end = children.IndexOf(' ');
        if (!int.TryParse(end < 0 ? children : children[..end], out var pid))
            return false;
        using var pidfd = PidfdHandle.TryOpen(pid);
        // The pid may have been freed and taken again between reading it and opening it: what the pidfd names must
        // still be the init's child.
        if (pidfd is null || ProcStat.Read(pid) is not { IsGone: false } stat || stat.ParentPid != initPid)
            return false;
        return pidfd.Signal(signal);
    }
}
