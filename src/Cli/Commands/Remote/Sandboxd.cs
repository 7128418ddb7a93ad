using System.CommandLine;
using System.Globalization;
using Google.Rpc;
using Grpc.Core;
using Sandbox.Api;
using Sandbox.Api.V1;
using Sandbox.Cli.Parsing;
using Sandbox.Cli.Terminal;

namespace Sandbox.Cli.Commands.Remote;

/// <summary>What every sandboxd-backed command shares: the --socket option, the client, and turning failures into a
/// message on stderr and a documented exit code (<see cref="ExitCodes"/>), by the ErrorInfo reason the server sends.</summary>
internal static class Sandboxd
{
    public static Option<string?> SocketOption() => new("--socket")
    {
        Description = $"sandboxd's unix socket (default ${SandboxdChannel.SocketEnvironmentVariable} or {SandboxdChannel.DefaultSocketPath})",
    };

    public static Sandboxes.SandboxesClient Connect(string? socket)
    {
        CompiledArrayTypes.Keep();
        return new(SandboxdChannel.ForUnixSocket(SandboxdChannel.ResolveSocketPath(socket)));
    }

    /// <summary>A channel for one call that does not go through the generated client (<see cref="RunInvoker"/>).</summary>
    public static Grpc.Net.Client.GrpcChannel SingleCallChannel(string? socket)
    {
        CompiledArrayTypes.Keep();
        return SandboxdChannel.ForUnixSocket(SandboxdChannel.ResolveSocketPath(socket), singleCall: true);
    }

    /// <summary>Runs a command's body; an RpcException becomes a message and an exit code.</summary>
    public static async Task<int> GuardAsync(string? socket, Func<Task<int>> body)
    {
        try
        {
            return await body();
        }
        catch (RpcException e)
        {
            return Report(e, socket);
        }
    }

    /// <summary>Why the socket did not answer, in a user's words: a missing socket file (the runtime reports ENOENT on
    /// a unix socket as "Cannot assign requested address"), a refused or forbidden connection (the innermost
    /// socket error), else what gRPC said.</summary>
    private static string UnreachableCause(string path, RpcException e)
    {
        if (!File.Exists(path))
            return "no socket there";
        for (var inner = e.Status.DebugException; inner is not null; inner = inner.InnerException)
        {
            if (inner is System.Net.Sockets.SocketException s)
                return s.SocketErrorCode == System.Net.Sockets.SocketError.AccessDenied
                    ? "permission denied: the socket is for root and the 'sandbox' group"
                    : s.Message;
        }
        return e.Status.DebugException?.Message ?? e.Status.Detail;
    }

    /// <summary>Prints what went wrong and returns the exit code for it.</summary>
    public static int Report(RpcException e, string? socket)
    {
        var info = e.GetRpcStatus()?.GetDetail<ErrorInfo>();
        if (info is null && e.StatusCode == StatusCode.Unavailable)
        {
            var path = SandboxdChannel.ResolveSocketPath(socket);
            StdStreams.Error($"cannot reach sandboxd at {path} ({UnreachableCause(path, e)}); " +
                "is it running (scripts/install-service.sh)? 'sandbox doctor' checks; --local runs without it");
            return ExitCodes.DaemonUnreachable;
        }
        StdStreams.Error(e.Status.Detail);
        var status = e.GetRpcStatus();
        if (status?.Details.FirstOrDefault(d => d.Is(PolicyExplanation.Descriptor))?.Unpack<PolicyExplanation>() is { } denial)
        {
            foreach (var reason in denial.Reasons)
                StdStreams.Error($"  policy: {reason}");
        }
        return info?.Reason switch
        {
            "SANDBOX_NOT_FOUND" => ExitCodes.SandboxNotFound,
            "PROGRAM_NOT_FOUND" => ExitCodes.NotFound,
            "PROGRAM_NOT_EXECUTABLE" => ExitCodes.NotExecutable,
            "POLICY_DENIED" => ExitCodes.PolicyDenied,
            "UNAUTHENTICATED_CALLER" => Unauthenticated(),
            "INVALID_FIELD" => ExitCodes.Usage,
            _ => ExitCodes.SandboxError,
        };
    }

    private static int Unauthenticated()
    {
        StdStreams.Error("  your uid is not mapped to a tenant in sandboxd.yaml (tenants[].uids); 'sandbox doctor' explains access");
        return ExitCodes.PolicyDenied;
    }

    /// <summary>"container tier, memory 256 MiB, cpus 1, pids 64, disk 64 MiB, timeout 300 s".</summary>
    public static string Describe(Tier tier, Limits? limits)
    {
        var name = tier == Tier.Microvm ? "microvm" : "container";
        if (limits is null)
            return name + " tier";
        return string.Create(CultureInfo.InvariantCulture,
            $"{name} tier, memory {limits.MemoryMib} MiB, cpus {(limits.Cpus > 0 ? limits.Cpus.ToString("0.###", CultureInfo.InvariantCulture) : "unlimited")}, " +
            $"pids {limits.Pids}, disk {limits.DiskMib} MiB, timeout {(limits.Timeout is { } t ? t.Seconds + " s" : "none")}, output {limits.OutputBytes} bytes");
    }

    /// <summary>With -v, or whenever the policy granted something other than what was asked, says so on stderr.</summary>
    public static void ReportGrant(RunFlags flags, Tier tier, Limits? limits)
    {
        var clamped = limits is null ? [] : flags.Clamped(limits);
        if (flags.Verbose)
            StdStreams.Error(Describe(tier, limits));
        if (clamped.Count > 0)
            StdStreams.Error("the policy granted " + string.Join(", ", clamped));
    }

    public static Tier ParseTier(string? tier) => tier switch
    {
        null or "auto" => Tier.Unspecified,
        "container" => Tier.Container,
        "microvm" => Tier.Microvm,
        _ => throw new UsageException($"--tier '{tier}' must be auto, container or microvm"),
    };
}
