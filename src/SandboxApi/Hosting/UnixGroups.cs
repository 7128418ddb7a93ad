using System.Runtime.InteropServices;

namespace Sandbox.SandboxApi.Hosting;

/// <summary>Gives the socket file to a group (listen.unix_group), so members of that group may connect.</summary>
internal static partial class UnixGroups
{
    [LibraryImport("libc", EntryPoint = "chown", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int NativeChown(string path, int owner, int group);

    public static void Chown(string path, string group)
    {
        var gid = Lookup(group) ?? throw new InvalidOperationException($"listen.unix_group: group '{group}' is not in /etc/group");
        if (NativeChown(path, -1, gid) != 0)
            throw new IOException($"chown {path} to group {group} ({gid}) failed: errno {Marshal.GetLastPInvokeError()}");
    }

    private static int? Lookup(string group)
    {
        foreach (var line in File.ReadLines("/etc/group"))
        {
            var f = line.Split(':');
            if (f.Length >= 3 && f[0] == group && int.TryParse(f[2], out var gid))
                return gid;
        }
        return null;
    }
}
