namespace Sandbox.Isolation.Users;

/// <summary>The exec prefix that drops root to one unprivileged host uid and gid, with no supplementary groups, before
/// a program starts: util-linux <c>unshare --setgid=G --setuid=U --</c> asking for no namespace, which calls
/// setgroups(0), setgid and setuid (as root these set the real, effective and saved ids; the capabilities go with uid 0)
/// and execs the program. Not setpriv, which does the same: setpriv first looks each numeric id up as a user name
/// (getpwnam through NSS: nsswitch.conf, dlopen of libnss_systemd and the libraries it loads, the userdb directories),
/// ~1.4 ms of CPU per start on this kind of host, and a container's launch drops to its owner twice (its user
/// namespace, then bwrap).</summary>
internal static class AsHostUser
{
    public static string[] Prefix(string unsharePath, int uid, int gid)
    {
        if (uid <= 0 || gid <= 0)
            throw new ArgumentOutOfRangeException(nameof(uid), $"uid {uid} / gid {gid}: a launch never stays host root");
        return [unsharePath, $"--setgid={gid}", $"--setuid={uid}", "--"];
    }
}
