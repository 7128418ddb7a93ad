using System.CommandLine;
using System.Diagnostics;
using Grpc.Core;
using Sandbox.Api.V1;
using Sandbox.Cli.Terminal;

namespace Sandbox.Cli.Commands.Remote;

/// <summary>`sandbox stop [-t SECONDS] ID...`: ends sandboxes gracefully, as docker stop does a container: SIGTERM to its
/// running processes, up to the grace period for them to exit, then the sandbox is deleted (SIGKILL to what is left).
/// A sandbox has no stopped state to restart from, so stop ends in removal.</summary>
internal static class StopCommand
{
    public static Command Create()
    {
        var ids = new Argument<string[]>("sandbox") { Description = "Sandbox ids", Arity = ArgumentArity.OneOrMore };
        var grace = new Option<int>("--time", "-t") { Description = "Seconds to wait for the processes after SIGTERM (default 10)", DefaultValueFactory = _ => 10 };
        var socket = Sandboxd.SocketOption();
        var command = new Command("stop", "Stop sandboxes: SIGTERM their processes, wait, then delete them") { grace, socket };
        command.Arguments.Add(ids);
        command.SetAction((parse, ct) => Sandboxd.GuardAsync(parse.GetValue(socket), async () =>
        {
            var client = Sandboxd.Connect(parse.GetValue(socket));
            var failed = 0;
            foreach (var id in parse.GetValue(ids)!)
            {
                try
                {
                    await StopAsync(client, id, TimeSpan.FromSeconds(Math.Max(0, parse.GetValue(grace))), ct);
                    StdStreams.OutText.WriteLine(id);
                }
                catch (RpcException e) when (e.StatusCode != StatusCode.Unavailable)
                {
                    StdStreams.Error($"{id}: {e.Status.Detail}");
                    failed++;
                }
            }
            return failed == 0 ? 0 : 1;
        }));
        return command;
    }

    private static async Task StopAsync(Sandboxes.SandboxesClient client, string id, TimeSpan grace, CancellationToken ct)
    {
        var running = await client.ListProcessesAsync(new ListProcessesRequest { SandboxId = id }, cancellationToken: ct);
        foreach (var p in running.Processes)
        {
            try
            {
                await client.SignalProcessAsync(new SignalProcessRequest { SandboxId = id, Pid = p.Pid, Signal = 15 }, cancellationToken: ct);
            }
            catch (RpcException e) when (e.StatusCode == StatusCode.NotFound)
            {
                // Exited meanwhile.
            }
        }
        // The grace period is a deadline, not a synchronisation: polled until the list is empty or it passes.
        var clock = Stopwatch.StartNew();
        while (running.Processes.Count > 0 && clock.Elapsed < grace)
        {
            await Task.Delay(TimeSpan.FromMilliseconds(100), ct);
            running = await client.ListProcessesAsync(new ListProcessesRequest { SandboxId = id }, cancellationToken: ct);
        }
        await client.DeleteSandboxAsync(new DeleteSandboxRequest { Id = id }, cancellationToken: ct);
    }
}
