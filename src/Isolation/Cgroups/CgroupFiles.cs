using System.Text;
using Sandbox.Isolation.Interop;

namespace Sandbox.Isolation.Cgroups;

/// <summary>Reads and writes of cgroup control files, with errors that name the file and the value.</summary>
internal static class CgroupFiles
{
    public static void Write(string directory, string file, string value)
    {
        var path = System.IO.Path.Combine(directory, file);
        try
        {
            File.WriteAllText(path, value);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new SandboxException(SandboxErrorCode.Internal, $"failed to write '{value}' to {path}: {e.Message}", e);
        }
    }

    public static bool TryWrite(string directory, string file, string value)
    {
        try
        {
            File.WriteAllText(System.IO.Path.Combine(directory, file), value);
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    /// <summary>Writes a control file that must already exist (cgroup.subtree_control, cgroup.procs) and returns the
    /// errno (0 on success): the kernel's reason (EBUSY, ENOENT for an unavailable controller) is the message, and
    /// .NET would turn ENOENT into "Could not find file" for a file that exists. O_APPEND makes no difference to
    /// cgroupfs (writes ignore the offset) and lets a fake cgroupfs in the tests keep every write.</summary>
    public static unsafe int WriteControl(string directory, string file, string value)
    {
        var fd = Libc.Open(System.IO.Path.Combine(directory, file), Libc.O_WRONLY | Libc.O_APPEND | Libc.O_CLOEXEC);
        if (fd < 0)
            return Errno.Last;
        try
        {
            var bytes = Encoding.ASCII.GetBytes(value + "\n");
            fixed (byte* p = bytes)
                return Libc.PWrite(fd, p, (nuint)bytes.Length, 0) == bytes.Length ? 0 : Errno.Last;
        }
        finally
        {
            Libc.Close(fd);
        }
    }

    /// <summary>Moves every process of <paramref name="from"/> into <paramref name="to"/>, in rounds (one may fork while
    /// the list is read). A process that exits meanwhile is fine; any other refusal is an error naming both.</summary>
    public static void MoveProcesses(string from, string to)
    {
        for (var round = 0; round < 5; round++)
        {
            var pids = ReadPids(from);
            if (pids.Count == 0)
                return;
            foreach (var pid in pids)
            {
                var errno = WriteControl(to, "cgroup.procs", pid.ToString());
                if (errno is not (0 or Errno.ESRCH))
                    throw new SandboxException(SandboxErrorCode.Internal, $"cannot move process {pid} from {from} into {to}: {Describe(errno)}");
            }
        }
        if (ReadPids(from).Count > 0)
            throw new SandboxException(SandboxErrorCode.Internal, $"processes keep appearing in {from} while they are moved into {to}");
    }

    public static string Describe(int errno) => $"{System.Runtime.InteropServices.Marshal.GetPInvokeErrorMessage(errno)} (errno {errno})";

    public static string? TryRead(string directory, string file)
    {
        try
        {
            return File.ReadAllText(System.IO.Path.Combine(directory, file));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    public static long ReadLong(string directory, string file)
    {
        var text = TryRead(directory, file)?.Trim();
        return text is not null && long.TryParse(text, out var v) ? v : 0;
    }

    /// <summary>The value of "key N" in a flat-keyed file such as memory.events or cpu.stat.</summary>
    public static long ReadKey(string directory, string file, string key)
    {
        var text = TryRead(directory, file);
        if (text is null)
            return 0;
        foreach (var line in text.Split('\n'))
        {
            var space = line.IndexOf(' ');
            if (space > 0 && line.AsSpan(0, space).SequenceEqual(key) && long.TryParse(line.AsSpan(space + 1), out var v))
                return v;
        }
        return 0;
    }

    public static IReadOnlyList<int> ReadPids(string directory)
    {
        var text = TryRead(directory, "cgroup.procs");
        if (string.IsNullOrEmpty(text))
            return [];
        var pids = new List<int>();
        foreach (var line in text.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            if (int.TryParse(line, out var pid))
                pids.Add(pid);
        }
        return pids;
    }

    /// <summary>The pids of <paramref name="directory"/> and of every cgroup below it (a sandbox's per-exec and agent
    /// sub-cgroups): on v1, and for v2's cgroup.procs, a cgroup lists only its own members.</summary>
    public static IReadOnlyList<int> ReadPidsRecursive(string directory)
    {
        var pids = new List<int>(ReadPids(directory));
        foreach (var child in Children(directory))
            pids.AddRange(ReadPidsRecursive(child));
        return pids;
    }

    /// <summary>The pids of the child cgroups of <paramref name="directory"/> whose name <paramref name="child"/> accepts,
    /// and of every cgroup below them.</summary>
    public static IReadOnlyList<int> ReadPidsBelow(string directory, Func<string, bool> child)
    {
        var pids = new List<int>();
        foreach (var dir in Children(directory))
        {
            if (child(System.IO.Path.GetFileName(dir)))
                pids.AddRange(ReadPidsRecursive(dir));
        }
        return pids;
    }

    /// <summary>The child cgroups of <paramref name="directory"/> (none when it is gone).</summary>
    public static IEnumerable<string> Children(string directory)
    {
        try
        {
            return Directory.GetDirectories(directory);
        }
        catch (DirectoryNotFoundException)
        {
            return [];
        }
    }

    /// <summary>rmdir of the cgroup and of every cgroup below it, children first, each retried while the kernel still
    /// reports it busy (tasks just killed are being reaped).</summary>
    public static async Task RemoveAsync(string directory)
    {
        foreach (var child in Children(directory))
            await RemoveAsync(child).ConfigureAwait(false);
        for (var attempt = 0; ; attempt++)
        {
            try
            {
                if (Directory.Exists(directory))
                    Directory.Delete(directory);
                return;
            }
            catch (IOException) when (attempt < 200)
            {
                // EBUSY while the last tasks are still being torn down: retry soon, then back off.
                await Task.Delay(attempt < 10 ? 1 : 10).ConfigureAwait(false);
            }
        }
    }

    public static void EnsureDirectory(string directory)
    {
        try
        {
            Directory.CreateDirectory(directory);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new SandboxException(SandboxErrorCode.Unavailable, $"cannot create cgroup {directory}: {e.Message}", e);
        }
    }
}
