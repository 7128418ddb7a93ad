using System.Globalization;

namespace Sandbox.Isolation.Images;

/// <summary>
/// The user an image's config names (OCI <c>User</c>: <c>user</c>, <c>uid</c>, <c>user:group</c>, <c>uid:gid</c>,
/// <c>user:gid</c>, <c>uid:group</c>), as the <see cref="SandboxUser"/> its sandboxes run as when a request names
/// none. Numbers are taken as they are; names are looked up in the image's own /etc/passwd and /etc/group, read from
/// the store's unpacked root without following any link (an image's tables are its own; a link could point at the
/// host's). A user without a group takes its passwd entry's gid, else the uid's number (never group 0 by accident).
/// Ids are those inside the sandbox: root is the sandbox's own (the container tier's user-namespace mapping, the
/// microVM's guest), never host root.
/// </summary>
public static class ImageUser
{
    private const long MaxTableBytes = 4 << 20;

    public static SandboxUser Resolve(string user, string rootDirectory)
    {
        var colon = user.IndexOf(':');
        var userPart = colon < 0 ? user : user[..colon];
        var groupPart = colon < 0 ? null : user[(colon + 1)..];
        if (userPart.Length == 0 || groupPart is { Length: 0 } || user.Length > 65)
            throw Bad(user, "must be USER|UID[:GROUP|GID], at most 65 characters");

        foreach (var part in new[] { userPart, groupPart })
        {
            if (part is { Length: > 0 } && part.All(char.IsAsciiDigit) && !TryId(part, out _))
                throw Bad(user, $"id {part} is outside the sandbox's ids 0..{SandboxUser.MaxId}");
        }

        int uid;
        int? passwdGid = null;
        if (TryId(userPart, out var numericUid))
        {
            uid = numericUid;
            if (Lookup(rootDirectory, "passwd", f => f[2] == userPart ? f[3] : null) is { } g && TryId(g, out var gid0))
                passwdGid = gid0;
        }
        else
        {
            var entry = Lookup(rootDirectory, "passwd", f => f[0] == userPart ? f[2] + ":" + f[3] : null)
                ?? throw Bad(user, $"'{userPart}' is not in the image's /etc/passwd");
            var ids = entry.Split(':');
            if (!TryId(ids[0], out uid) || !TryId(ids[1], out var entryGid))
                throw Bad(user, $"the image's /etc/passwd gives '{userPart}' ids '{entry}', outside 0..{SandboxUser.MaxId}");
            passwdGid = entryGid;
        }

        int gid;
        if (groupPart is null)
            gid = passwdGid ?? uid;
        else if (!TryId(groupPart, out gid))
        {
            var found = Lookup(rootDirectory, "group", f => f[0] == groupPart ? f[2] : null)
                ?? throw Bad(user, $"group '{groupPart}' is not in the image's /etc/group");
            if (!TryId(found, out gid))
                throw Bad(user, $"the image's /etc/group gives '{groupPart}' gid '{found}', outside 0..{SandboxUser.MaxId}");
        }
        return new SandboxUser(uid, gid);
    }

    private static SandboxException Bad(string user, string why) =>
        new(SandboxErrorCode.InvalidArgument, $"the image's config User '{user}': {why}");

    private static bool TryId(string s, out int id)
    {
        id = 0;
        return s.Length > 0 && s.All(char.IsAsciiDigit)
            && int.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out id) && id <= SandboxUser.MaxId;
    }

    /// <summary>What <paramref name="pick"/> answers for the first line of the image's /etc/{table} it answers for;
    /// null when the table is missing, is a link (or under one), is over 4 MiB, or no line matches (the store holds
    /// no fifos or device nodes: a table that exists is a regular file).</summary>
    private static string? Lookup(string rootDirectory, string table, Func<string[], string?> pick)
    {
        var etc = new DirectoryInfo(Path.Combine(rootDirectory, "etc"));
        var file = new FileInfo(Path.Combine(etc.FullName, table));
        if (!etc.Exists || etc.LinkTarget is not null || !file.Exists || file.LinkTarget is not null || file.Length > MaxTableBytes)
            return null;
        foreach (var line in File.ReadLines(file.FullName))
        {
            var fields = line.Split(':');
            if (fields.Length >= 4 && pick(fields) is { } value)
                return value;
        }
        return null;
    }
}
