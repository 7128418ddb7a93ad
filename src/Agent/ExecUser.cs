using System.Globalization;
using Sandbox.Ttrpc;

namespace Sandbox.Agent;

/// <summary>A uid and gid inside the sandbox (its user namespace on the container tier, the guest in a microVM).</summary>
internal readonly record struct WorkloadUser(uint Uid, uint Gid);

/// <summary>
/// The user an exec asks for (<c>ExecRequest.user</c>, docker's <c>-u</c>): <c>NAME|UID[:GROUP|GID]</c>. Names are
/// looked up in the sandbox root's /etc/passwd and /etc/group (read with the workload's file-system identity); a name
/// without a group takes its passwd entry's gid, a uid without one takes its passwd entry's gid when it has one, else
/// the same number (never group 0 by accident, unlike docker). Allowed: ids 0..<see cref="MaxId"/> (the sandbox's
/// 65 536 ids less the last, which is the container agent's), never a container agent's own uid or gid, so no exec can
/// signal, trace or starve the agent. In a microVM guest 0 is allowed: guest root, with the few capabilities
/// <see cref="WorkloadCredentials.GuestRootCapabilities"/> names. Only the primary group is set (no supplementary
/// groups).
/// </summary>
internal static class ExecUser
{
    public const uint MaxId = 65534;
    private const int MaxTableBytes = 4 << 20;

    public static WorkloadUser Resolve(string spec, SpawnConfinement? confinement)
    {
        if (spec.Length == 0)
            return confinement?.DefaultUser ?? default;
        if (confinement is null)
            throw new TtrpcException(StatusCode.FailedPrecondition, $"user '{spec}': choosing a user needs an agent that confines its children (container or guest agent)");
        if (spec.Length > 65 || spec.Contains('\0'))
            throw new TtrpcException(StatusCode.InvalidArgument, $"user '{spec}' must be NAME|UID[:GROUP|GID], at most 65 characters");
        var colon = spec.IndexOf(':');
        var userPart = colon < 0 ? spec : spec[..colon];
        var groupPart = colon < 0 ? null : spec[(colon + 1)..];
        if (userPart.Length == 0 || groupPart is { Length: 0 })
            throw new TtrpcException(StatusCode.InvalidArgument, $"user '{spec}' must be NAME|UID[:GROUP|GID]");

        uint uid;
        uint? passwdGid = null;
        if (TryId(userPart, out var numericUid))
        {
            uid = numericUid;
            passwdGid = FindId(confinement, "/etc/passwd", fields => fields[2] == userPart ? fields[3] : null);
        }
        else
        {
            var entry = Find(confinement, "/etc/passwd", fields => fields[0] == userPart ? fields[2] + ":" + fields[3] : null)
                ?? throw new TtrpcException(StatusCode.InvalidArgument, $"user '{userPart}' is not in the sandbox's /etc/passwd (give a uid instead)");
            var ids = entry.Split(':');
            uid = Id(ids[0], $"/etc/passwd uid of '{userPart}'");
            passwdGid = Id(ids[1], $"/etc/passwd gid of '{userPart}'");
        }

        uint gid;
        if (groupPart is null)
            gid = passwdGid ?? uid;
        else if (TryId(groupPart, out var numericGid))
            gid = numericGid;
        else
            gid = FindId(confinement, "/etc/group", fields => fields[0] == groupPart ? fields[2] : null)
                ?? throw new TtrpcException(StatusCode.InvalidArgument, $"group '{groupPart}' is not in the sandbox's /etc/group (give a gid instead)");

        Check(uid, "uid", confinement.AgentUser?.Uid, spec);
        Check(gid, "gid", confinement.AgentUser?.Gid, spec);
        return new WorkloadUser(uid, gid);
    }

    private static void Check(uint id, string kind, uint? agentId, string spec)
    {
        if (id > MaxId)
            throw new TtrpcException(StatusCode.InvalidArgument, $"user '{spec}': {kind} {id} is outside the sandbox's ids 0..{MaxId}");
        if (id == agentId)
            throw new TtrpcException(StatusCode.InvalidArgument, $"user '{spec}': {kind} {id} is the sandbox agent's own; any other id 0..{MaxId} is allowed");
    }

    private static bool TryId(string s, out uint id)
    {
        id = 0;
        return s.All(char.IsAsciiDigit) && uint.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out id);
    }

    private static uint Id(string s, string what) =>
        TryId(s, out var id) ? id : throw new TtrpcException(StatusCode.InvalidArgument, $"{what} is '{s}', not a number");

    private static uint? FindId(SpawnConfinement confinement, string path, Func<string[], string?> pick) =>
        Find(confinement, path, pick) is { } value ? Id(value, $"{path} entry") : null;

    /// <summary>What <paramref name="pick"/> answers for the first line of a colon-separated table (passwd, group)
    /// it answers for; null when the file is missing or no line matches.</summary>
    private static string? Find(SpawnConfinement confinement, string path, Func<string[], string?> pick)
    {
        var text = confinement.AsWorkloadUser(() => Read(path));
        if (text is null)
            return null;
        foreach (var line in text.Split('\n'))
        {
            var fields = line.Split(':');
            if (fields.Length >= 4 && pick(fields) is { } value)
                return value;
        }
        return null;
    }

    private static string? Read(string path)
    {
        try
        {
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read);
            var buffer = new byte[MaxTableBytes];
            int total = 0, n;
            while (total < buffer.Length && (n = stream.Read(buffer, total, buffer.Length - total)) > 0)
                total += n;
            return System.Text.Encoding.UTF8.GetString(buffer, 0, total);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }
}
