namespace Sandbox.Isolation;

/// <summary>The identity a sandbox's processes have inside it: uid and gid in the sandbox's own user namespace.
/// On the host they are always unprivileged: the container tier maps the sandbox's ids 0..65535 to a host uid range of
/// its own (<c>BubblewrapOptions.UidRangeBase</c>), so uid 0 inside is the first uid of that range, never host root.
/// Whatever the uid, processes run with every capability dropped, no_new_privs and seccomp.</summary>
/// <param name="Uid">0 to 65534 (65535 is the agent's own uid inside a long-lived container).</param>
/// <param name="Gid">0 to 65534.</param>
public sealed record SandboxUser(int Uid, int Gid)
{
    /// <summary>The unprivileged user every tier runs processes as unless told otherwise: 1000:1000.</summary>
    public static SandboxUser Default { get; } = new(1000, 1000);

    /// <summary>Root inside (an image whose files belong to root and whose programs expect to run as root): uid/gid 0
    /// of the sandbox's namespace, the first host uid of its range; no capabilities, so root's powers stop at owning
    /// files.</summary>
    public static SandboxUser Root { get; } = new(0, 0);

    /// <summary>Highest uid/gid a sandbox user may have (the ids inside are 0..65535; the last is the agent's).</summary>
    public const int MaxId = 65_534;

    /// <summary>"root", "UID" (gid = uid) or "UID:GID", numbers in [0, <see cref="MaxId"/>]; user names other than root
    /// are not looked up (an image's /etc/passwd is the sandbox's to read, not the host's).</summary>
    public static SandboxUser Parse(string value)
    {
        if (value == "root")
            return Root;
        var parts = value.Split(':');
        if (parts.Length is 1 or 2 && TryId(parts[0], out var uid))
        {
            if (parts.Length == 1)
                return new SandboxUser(uid, uid);
            if (TryId(parts[1], out var gid))
                return new SandboxUser(uid, gid);
        }
        throw new SandboxException(SandboxErrorCode.InvalidArgument,
            $"user '{value}' must be root, UID or UID:GID with numbers in [0, {MaxId}]");
    }

    private static bool TryId(string text, out int id) =>
        int.TryParse(text, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out id) && id <= MaxId;

    public override string ToString() => $"{Uid}:{Gid}";
}
