namespace Sandbox.Tests.Common;

/// <summary>What the host sees of a process, read from /proc without racing its exit: a process can be reaped between
/// any two reads, so a test that checks "gone" must treat a vanished /proc entry as gone, not as an error.</summary>
internal static class HostProcess
{
    /// <summary>True while the process exists and is not a zombie (or dead, 'X'); false once it exited, was reaped, or
    /// never existed.</summary>
    public static bool IsLive(int pid)
    {
        string stat;
        try
        {
            stat = File.ReadAllText($"/proc/{pid}/stat");
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException or IOException)
        {
            return false;
        }
        // The state follows the command name's closing parenthesis; the name itself may hold ") Z ".
        var state = stat.AsSpan(stat.LastIndexOf(')') + 1).TrimStart();
        return state.Length > 0 && state[0] is not ('Z' or 'X');
    }
}
