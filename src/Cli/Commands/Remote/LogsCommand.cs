using System.CommandLine;
using Sandbox.Api.V1;
using Sandbox.Cli.Terminal;

namespace Sandbox.Cli.Commands.Remote;

/// <summary>`sandbox logs ID`: the sandbox's lifecycle events as they happen (created, started, exited, oom, paused,
/// resumed, deleted), one line each, until it is deleted or Ctrl-C. Process output is not stored by sandboxd (it
/// streams to the exec that started the process), so there is no history to replay.</summary>
internal static class LogsCommand
{
    public static Command Create()
    {
        var id = new Argument<string>("sandbox") { Description = "Sandbox id" };
        var socket = Sandboxd.SocketOption();
        var command = new Command("logs", "Follow a sandbox's lifecycle events (until it is deleted)") { socket };
        command.Arguments.Add(id);
        command.SetAction((parse, ct) => Sandboxd.GuardAsync(parse.GetValue(socket), async () =>
        {
            var client = Sandboxd.Connect(parse.GetValue(socket));
            var sandbox = await client.GetSandboxAsync(new GetSandboxRequest { Id = parse.GetValue(id)! }, cancellationToken: ct);
            using var call = client.WatchEvents(new WatchEventsRequest { SandboxId = sandbox.Id }, cancellationToken: ct);
            try
            {
                while (await call.ResponseStream.MoveNext(ct))
                {
                    var e = call.ResponseStream.Current;
                    var kind = e.Kind.ToString().ToLowerInvariant();
                    StdStreams.OutText.WriteLine($"{e.EventTime?.ToDateTime():O} {kind}{(e.Exit is { } x ? $" exit={x.ExitCode}" : "")}{(e.Detail.Length > 0 && e.Detail != kind ? " " + e.Detail : "")}");
                    if (e.Kind == LifecycleEvent.Types.Kind.Deleted)
                        break;
                }
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
            }
            return 0;
        }));
        return command;
    }
}
