namespace Sandbox.Isolation.Users;

/// <summary>The exec prefix that drops root to one unprivileged host uid and gid, with no supplementary groups, before
/// a program starts (bwrap, as its user namespace's owner): the agent bundle's <c>sandbox-launch exec UID GID
/// [--rlimits NOFILE FSIZE] --</c> (src/Isolation/Native/sandbox-launch.c), which first sets a one-shot's rlimits on
/// itself while still root, then calls setgroups(0), setresgid and setresuid (the capabilities go with uid 0) and execs
/// the program by its absolute path with the chain's environment. One static process of raw syscalls: before it, this
/// was util-linux <c>prlimit</c> then <c>unshare --setgid --setuid</c> (and before that setpriv, which looked each
/// numeric id up through NSS), each a dynamically linked program costing 1.5–3 ms of CPU per start on this kind of host
/// (the loader's start and its trapped CPU-feature probing).</summary>
internal static class AsHostUser
{
    /// <param name="rlimits">NOFILE and FSIZE for a one-shot's workload (<see cref="Container.SandboxRlimits.LaunchArgs"/>;
    /// RLIMIT_CORE is always 0 with them), or null (the agent sets a long-lived sandbox's on itself).</param>
    public static string[] Prefix(string launchHelper, int uid, int gid, IReadOnlyList<string>? rlimits)
    {
        if (uid <= 0 || gid <= 0)
            throw new ArgumentOutOfRangeException(nameof(uid), $"uid {uid} / gid {gid}: a launch never stays host root");
        return [launchHelper, "exec", uid.ToString(), gid.ToString(), .. rlimits ?? [], "--"];
    }
}
