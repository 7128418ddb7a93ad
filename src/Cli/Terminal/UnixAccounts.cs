using System.Runtime.InteropServices;

namespace Sandbox.Cli.Terminal;

/// <summary>Group and socket facts for `doctor`, through NSS (getgrnam/getgrgid), never by parsing /etc/group.</summary>
internal static partial class UnixAccounts
{
    [LibraryImport("libc", EntryPoint = "getgrnam", StringMarshalling = StringMarshalling.Utf8)]
    private static partial IntPtr GetGrNam(string name);

    [LibraryImport("libc", EntryPoint = "getgrgid")]
    private static partial IntPtr GetGrGid(uint gid);

    [LibraryImport("libc", EntryPoint = "getgroups", SetLastError = true)]
    private static partial int GetGroups(int size, [Out] uint[] list);

    [LibraryImport("libc", EntryPoint = "getegid")]
    private static partial uint GetEGid();

    [LibraryImport("libc", EntryPoint = "geteuid")]
    public static partial uint GetEUid();

    /// <summary>struct group: char *gr_name; char *gr_passwd; gid_t gr_gid; char **gr_mem.</summary>
    public static uint? GroupId(string name)
    {
        var g = GetGrNam(name);
        return g == IntPtr.Zero ? null : (uint)Marshal.ReadInt32(g, 2 * IntPtr.Size);
    }

    public static string? GroupName(uint gid)
    {
        var g = GetGrGid(gid);
        return g == IntPtr.Zero ? null : Marshal.PtrToStringUTF8(Marshal.ReadIntPtr(g));
    }

    /// <summary>Whether this process has <paramref name="gid"/> (effective or supplementary).</summary>
    public static bool InGroup(uint gid)
    {
        if (GetEGid() == gid)
            return true;
        var list = new uint[256];
        var n = GetGroups(list.Length, list);
        return n > 0 && list.Take(n).Contains(gid);
    }
}
