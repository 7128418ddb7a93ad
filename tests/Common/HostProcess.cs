namespace Sandbox.Tests.Common;

/// <summary>What the host sees of a process, read from /proc without racing its exit: a process can be reaped between
/// any two reads, so a test that checks "gone" must treat a vanished /proc entry as gone, not as an error. A pid alone
/// does not name a process for long: pids are reused (pid_max is 32768 on the CI machine, and the suite starts
/// thousands of processes and threads), so a check made long after the pid was seen compares the start time too.</summary>
internal static class HostProcess
{
    /// <summary>A process for good: its pid and its start time (/proc/PID/stat field 22, clock ticks since boot).</summary>
    public readonly record struct Identity(int Pid, ulong StartTime);

    /// <summary>State, parent and start time of a process; null once it was reaped (or never existed).</summary>
    private readonly record struct Stat(char State, int ParentPid, ulong StartTime);

    private static Stat? Read(int pid)
    {
        string stat;
        try
        {
            stat = File.ReadAllText($"/proc/{pid}/stat");
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException or IOException)
        {
            return null;
        }
        // The fields follow the command name's closing parenthesis; the name itself may hold ") Z ".
        var fields = stat[(stat.LastIndexOf(')') + 1)..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
        // fields[0] is field 3 (state), fields[1] field 4 (ppid), fields[19] field 22 (starttime).
        return fields.Length > 19 && fields[0].Length == 1 && int.TryParse(fields[1], out var parent) && ulong.TryParse(fields[19], out var start)
            ? new Stat(fields[0][0], parent, start)
            : null;
    }

    private static bool Running(Stat? stat) => stat is { State: not ('Z' or 'X' or 'x') };

    /// <summary>True while the process exists and is not a zombie (or dead, 'X'); false once it exited, was reaped, or
    /// never existed. For a pid seen a while ago, <see cref="IsLive(Identity)"/> does not mistake a reused pid for it.</summary>
    public static bool IsLive(int pid) => Running(Read(pid));

    /// <summary>True while the pid names a zombie: exited, not reaped yet.</summary>
    public static bool IsZombie(int pid) => Read(pid) is { State: 'Z' };

    /// <summary>The process that <paramref name="pid"/> names now; null when it is gone.</summary>
    public static Identity? Identify(int pid) => Read(pid) is { } stat ? new Identity(pid, stat.StartTime) : null;

    /// <summary>True while that very process runs (not a zombie): a later process given the same pid is not it.</summary>
    public static bool IsLive(Identity process) => Read(process.Pid) is { } stat && stat.StartTime == process.StartTime && Running(stat);

    /// <summary>The parent of the process, or 0 once it is gone.</summary>
    public static int ParentPid(int pid) => Read(pid)?.ParentPid ?? 0;

    /// <summary>The process's command name (/proc/PID/comm), or null once it is gone.</summary>
    public static string? Comm(int pid)
    {
        try
        {
            return File.ReadAllText($"/proc/{pid}/comm").TrimEnd('\n');
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException or IOException)
        {
            return null;
        }
    }

    /// <summary>Waits, bounded, until the process is no longer running (a zombie counts as gone: its parent may reap it
    /// later). A bounded poll: a process that is not this one's child has no exit event short of a pidfd, and the
    /// deadline is generous because the host is shared and loaded.</summary>
    public static async Task<bool> ExitedWithinAsync(Identity process, TimeSpan bound)
    {
        var deadline = DateTime.UtcNow + bound;
        while (IsLive(process))
        {
            if (DateTime.UtcNow > deadline)
                return false;
            await Task.Delay(50);
        }
        return true;
    }
}
