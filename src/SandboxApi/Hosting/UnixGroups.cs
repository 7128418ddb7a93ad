using System.Runtime.InteropServices;

namespace Sandbox.SandboxApi.Hosting;

/// <summary>Gives the socket file to a group (listen.unix_group), so members of that group may connect. The group is
/// looked up through NSS (getgrnam), so groups from LDAP/sssd/systemd-userdb count as well as /etc/group.</summary>
internal static partial class UnixGroups
{
    [LibraryImport("libc", EntryPoint = "chown", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int NativeChown(string path, int owner, int group);

    [LibraryImport("libc", EntryPoint = "getgrnam", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial IntPtr GetGrNam(string name);

    public static void Chown(string path, string group)
    {
        var gid = Lookup(group) ?? throw new InvalidOperationException(
            $"listen.unix_group: group '{group}' does not exist (getgrnam); create it (scripts/install-service.sh makes 'sandbox') or remove the setting");
        if (NativeChown(path, -1, gid) != 0)
            throw new IOException($"chown {path} to group {group} ({gid}) failed: errno {Marshal.GetLastPInvokeError()}");
    }

    /// <summary>The group's gid, or null when NSS does not know it. struct group: gr_name, gr_passwd (pointers), gr_gid.</summary>
    public static int? Lookup(string group)
    {
        var entry = GetGrNam(group);
        return entry == IntPtr.Zero ? null : Marshal.ReadInt32(entry, 2 * IntPtr.Size);
    }
}
