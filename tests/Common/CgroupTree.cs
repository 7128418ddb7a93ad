namespace Sandbox.Tests.Common;

/// <summary>What the host sees in a cgroup tree, read without racing its changes.</summary>
internal static class CgroupTree
{
    /// <summary>The pids in a cgroup and every sub-cgroup below it (a long-lived sandbox's agent and exec cgroups). Exec
    /// sub-cgroups come and go while it is read, and another test's sandbox may go away: a cgroup removed meanwhile
    /// reads as empty, not as an error.</summary>
    public static IReadOnlyList<int> Procs(string dir)
    {
        try
        {
            return File.ReadAllLines(Path.Combine(dir, "cgroup.procs")).Where(l => l.Length > 0).Select(int.Parse)
                .Concat(Directory.GetDirectories(dir).SelectMany(Procs)).ToList();
        }
        catch (IOException) // DirectoryNotFoundException, FileNotFoundException, ENODEV of a cgroup being removed
        {
            return [];
        }
    }
}
