using System.CommandLine;
using Grpc.Core;
using Sandbox.Api;
using Sandbox.Api.V1;
using Sandbox.Cli.Commands.Remote;
using Sandbox.Cli.Terminal;
using Sandbox.Isolation.Host;

namespace Sandbox.Cli.Commands;

/// <summary>`sandbox doctor`: what this host supports, whether sandboxd answers on its socket, and how a non-root user
/// gets access (the `sandbox` group). Plain text, no colours; exit 1 when a required piece is missing.</summary>
public static class DoctorCommand
{
    private static readonly HashSet<string> s_optional = ["kvm", "qemu", "sandboxd", "access"];
    private const string Group = "sandbox";

    public static Command Create()
    {
        var socket = Sandboxd.SocketOption();
        var doctor = new Command("doctor", "Check what this host supports, and whether sandboxd is reachable") { socket };
        doctor.SetAction(async (parse, ct) =>
        {
            var rows = HostProbe.Run().Select(c => (c.Name, c.Ok ? "ok" : s_optional.Contains(c.Name) ? "no" : "missing", c.Detail)).ToList();
            var path = SandboxdChannel.ResolveSocketPath(parse.GetValue(socket));
            rows.Add(await ProbeDaemonAsync(path, ct));
            rows.Add(Access(path));
            var width = rows.Max(r => r.Item1.Length);
            var output = StdStreams.OutText;
            foreach (var (name, status, detail) in rows)
                output.WriteLine($"{name.PadRight(width)}  {status,-7}  {detail}");
            return rows.All(r => r.Item2 == "ok" || s_optional.Contains(r.Item1)) ? 0 : 1;
        });
        return doctor;
    }

    private static async Task<(string, string, string)> ProbeDaemonAsync(string path, CancellationToken ct)
    {
        if (!File.Exists(path))
            return ("sandboxd", "no", $"no socket at {path}: start it (scripts/install-service.sh), or use 'sandbox run --local'");
        try
        {
            var client = new Sandboxes.SandboxesClient(SandboxdChannel.ForUnixSocket(path));
            await client.ListSandboxesAsync(new ListSandboxesRequest { PageSize = 1 }, deadline: DateTime.UtcNow.AddSeconds(5), cancellationToken: ct);
            return ("sandboxd", "ok", $"answers on {path}");
        }
        catch (RpcException e) when (e.StatusCode == StatusCode.Unauthenticated)
        {
            return ("sandboxd", "no", $"answers on {path}, but uid {UnixAccounts.GetEUid()} is no tenant: add it to tenants[].uids in /etc/sandbox/sandboxd.yaml");
        }
        catch (RpcException e)
        {
            return ("sandboxd", "no", $"{path}: {e.Status.DebugException?.Message ?? e.Status.Detail}");
        }
    }

    /// <summary>Who may open the socket: root, or members of its group (0660 root:sandbox as installed).</summary>
    private static (string, string, string) Access(string path)
    {
        var gid = UnixAccounts.GroupId(Group);
        var how = $"the socket is 0660 root:{Group}; a user needs 'usermod -aG {Group} USER' (then log in again) and a tenant for its uid";
        if (gid is null)
            return ("access", "no", $"no '{Group}' group (getgrnam): scripts/install-service.sh creates it; {how}");
        if (UnixAccounts.GetEUid() == 0)
            return ("access", "ok", $"root; {how}");
        if (!File.Exists(path))
            return ("access", UnixAccounts.InGroup(gid.Value) ? "ok" : "no", how);
        var mode = File.GetUnixFileMode(path);
        var inGroup = UnixAccounts.InGroup(gid.Value);
        return ("access", inGroup && mode.HasFlag(UnixFileMode.GroupWrite) ? "ok" : "no",
            inGroup ? $"you are in '{Group}'; socket mode {Convert.ToString((int)mode, 8)}" : $"you are not in '{Group}': {how}");
    }
}
