namespace Sandbox.Isolation.Cgroups;

/// <summary>What the tasks of a cgroup are doing, for the error of a freeze or kill that did not finish: each thread's
/// scheduler state and the kernel function it waits in (/proc/PID/task/TID/stat and wchan). A frozen task shows "D"
/// in its last wait; one that is running ("R") or in a wait the freezer cannot take ("D" in, say, a mount or an exit)
/// is what held the freeze up.</summary>
internal static class CgroupTaskStates
{
    private const int MaxThreads = 12;

    /// <summary>"tasks: PID/TID (comm) STATE in WCHAN, …" for the processes of <paramref name="pidsDir"/> and its
    /// sub-cgroups; empty when it has none.</summary>
    public static string Describe(string pidsDir)
    {
        var threads = new List<string>();
        var total = 0;
        foreach (var pid in CgroupFiles.ReadPidsRecursive(pidsDir))
        {
            foreach (var task in Tasks(pid))
            {
                total++;
                if (threads.Count < MaxThreads && Thread(pid, task) is { } line)
                    threads.Add(line);
            }
        }
        if (total == 0)
            return "";
        var more = total > threads.Count ? $", and {total - threads.Count} more" : "";
        return $"tasks: {string.Join(", ", threads)}{more}";
    }

    /// <summary>Every thread of <paramref name="pid"/> is exiting or dead (PF_EXITING in /proc/PID/task/TID/stat's flags:
    /// set once a thread is past its last instruction in user space, and kept on a zombie), or the process is gone. Such
    /// a process can neither run nor fork again. A leader that has exited while other threads live is not: those
    /// threads lack the flag.</summary>
    public static bool IsExiting(int pid)
    {
        const uint PfExiting = 0x4;
        foreach (var tid in Tasks(pid))
        {
            try
            {
                var stat = File.ReadAllText($"/proc/{pid}/task/{tid}/stat");
                // Fields after the comm's ')': state (3), ppid, pgrp, session, tty_nr, tpgid, flags (9).
                var flags = stat[(stat.LastIndexOf(')') + 2)..].Split(' ', 8)[6];
                if ((uint.Parse(flags, System.Globalization.CultureInfo.InvariantCulture) & PfExiting) == 0)
                    return false;
            }
            catch (IOException)
            {
                // gone meanwhile
            }
        }
        return true;
    }

    private static IEnumerable<string> Tasks(int pid)
    {
        try
        {
            return Directory.GetDirectories($"/proc/{pid}/task").Select(Path.GetFileName).OfType<string>();
        }
        catch (IOException)
        {
            return []; // gone meanwhile
        }
    }

    private static string? Thread(int pid, string tid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/task/{tid}/stat");
            var open = stat.IndexOf('(');
            var close = stat.LastIndexOf(')');
            var comm = stat[(open + 1)..close];
            var state = stat[(close + 2)..].Split(' ')[0];
            var wchan = File.ReadAllText($"/proc/{pid}/task/{tid}/wchan").Trim();
            return $"{pid}/{tid} ({comm}) {state}{(wchan is "" or "0" ? "" : " in " + wchan)}";
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentOutOfRangeException)
        {
            return null; // gone meanwhile
        }
    }
}
