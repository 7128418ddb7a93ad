namespace Sandbox.Isolation.Container;

/// <summary>The fields of /proc/PID/stat that identify a process for good (its state and its start time) and its parent.</summary>
internal readonly record struct ProcStat(char State, int ParentPid, ulong StartTime)
{
    public bool IsGone => State is 'Z' or 'X' or 'x';

    public static ProcStat? Read(int pid)
    {
        string text;
        try
        {
            text = File.ReadAllText($"/proc/{pid}/stat");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
        // pid (comm) state ppid ...: comm may hold spaces and parentheses, so fields are counted after the last ')'.
        var close = text.LastIndexOf(')');
        if (close < 0)
            return null;
        var fields = text[(close + 1)..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
        // fields[0] is field 3 (state), fields[1] field 4 (ppid); field 22 (starttime) is fields[19].
        return fields.Length > 19 && fields[0].Length == 1 && int.TryParse(fields[1], out var parent) && ulong.TryParse(fields[19], out var start)
            ? new ProcStat(fields[0][0], parent, start)
            : null;
    }
}
