using System.CommandLine;
using Google.Protobuf;
using Grpc.Core;
using Sandbox.Api;
using Sandbox.Api.V1;

namespace Sandbox.Cli.Commands.Remote;

/// <summary>What every sandboxd-backed command shares: the --socket option, the client, streaming a process's
/// events to this terminal, and turning statuses into docker-like exit codes (<see cref="ExitCodes"/>).</summary>
internal static class Sandboxd
{
    public static Option<string?> SocketOption() => new("--socket")
    {
        Description = $"sandboxd's unix socket (default ${SandboxdChannel.SocketEnvironmentVariable} or {SandboxdChannel.DefaultSocketPath})",
    };

    public static Sandboxes.SandboxesClient Connect(string? socket) =>
        new(SandboxdChannel.ForUnixSocket(SandboxdChannel.ResolveSocketPath(socket)));

    /// <summary>Runs a call; an RpcException becomes a message on stderr and an exit code.</summary>
    public static async Task<int> GuardAsync(string? socket, Func<Task<int>> body)
    {
        try
        {
            return await body();
        }
        catch (RpcException e)
        {
            var path = SandboxdChannel.ResolveSocketPath(socket);
            var message = e.StatusCode == StatusCode.Unavailable && e.Status.DebugException is not null
                ? $"cannot reach sandboxd at {path} ({e.Status.DebugException.Message}); start it with scripts/install-service.sh, or use --local"
                : e.Status.Detail;
            await Console.Error.WriteLineAsync($"sandbox: {message}");
            foreach (var reason in e.Trailers.Where(t => t.Key == "sandbox-policy-reasons"))
                await Console.Error.WriteLineAsync($"sandbox:   policy: {reason.Value}");
            return e.StatusCode == StatusCode.NotFound ? ExitCodes.NotFound : ExitCodes.SandboxError;
        }
    }

    /// <summary>Writes stdin (when interactive) into the call, prints the events, returns the exit code.</summary>
    public static async Task<int> StreamAsync<TRequest>(AsyncDuplexStreamingCall<TRequest, ExecEvent> call, TRequest start, bool interactive,
        Func<ByteString, TRequest> stdinMessage, Func<TRequest> closeMessage, CancellationToken cancellationToken)
    {
        await call.RequestStream.WriteAsync(start, cancellationToken);
        var input = Task.CompletedTask;
        if (interactive)
        {
            input = Task.Run(async () =>
            {
                using var stdin = Console.OpenStandardInput();
                var buffer = new byte[64 * 1024];
                int n;
                while ((n = await stdin.ReadAsync(buffer, cancellationToken)) > 0)
                    await call.RequestStream.WriteAsync(stdinMessage(ByteString.CopyFrom(buffer, 0, n)), cancellationToken);
                await call.RequestStream.WriteAsync(closeMessage(), cancellationToken);
                await call.RequestStream.CompleteAsync();
            }, cancellationToken);
        }
        else
        {
            await call.RequestStream.CompleteAsync();
        }
        using var stdout = Console.OpenStandardOutput();
        using var stderr = Console.OpenStandardError();
        Exit? exit = null;
        while (await call.ResponseStream.MoveNext(cancellationToken))
        {
            var e = call.ResponseStream.Current;
            switch (e.EventCase)
            {
                case ExecEvent.EventOneofCase.Stdout: e.Stdout.WriteTo(stdout); await stdout.FlushAsync(cancellationToken); break;
                case ExecEvent.EventOneofCase.Stderr: e.Stderr.WriteTo(stderr); await stderr.FlushAsync(cancellationToken); break;
                case ExecEvent.EventOneofCase.Exit: exit = e.Exit; break;
            }
        }
        if (!interactive)
            await input;
        if (exit is null)
        {
            await Console.Error.WriteLineAsync("sandbox: sandboxd ended the call without an exit status");
            return ExitCodes.SandboxError;
        }
        if (exit.TimedOut)
        {
            await Console.Error.WriteLineAsync($"sandbox: timed out after {exit.Duration?.ToTimeSpan().TotalSeconds:0.###} s");
            return ExitCodes.Timeout;
        }
        if (exit.OomKilled)
        {
            await Console.Error.WriteLineAsync("sandbox: killed by the OOM killer (the sandbox's memory limit)");
            return ExitCodes.OutOfMemory;
        }
        if (exit.Truncated)
            await Console.Error.WriteLineAsync("sandbox: output truncated at the sandbox's output limit");
        return exit.ExitCode;
    }

    public static Dictionary<string, string> ParsePairs(string[] pairs, string option)
    {
        var map = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var pair in pairs)
        {
            var eq = pair.IndexOf('=');
            if (eq <= 0)
                throw new FormatException($"{option} '{pair}' must be NAME=VALUE");
            map[pair[..eq]] = pair[(eq + 1)..];
        }
        return map;
    }

    public static Tier ParseTier(string? tier) => tier switch
    {
        null or "auto" => Tier.Unspecified,
        "container" => Tier.Container,
        "microvm" => Tier.Microvm,
        _ => throw new FormatException($"--tier '{tier}' must be auto, container or microvm"),
    };
}
