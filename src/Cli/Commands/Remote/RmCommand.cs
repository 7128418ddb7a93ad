using System.CommandLine;
using Grpc.Core;
using Sandbox.Api.V1;
using Sandbox.Cli.Terminal;

namespace Sandbox.Cli.Commands.Remote;

/// <summary>`sandbox rm [-f] ID...`: deletes each; what cannot be deleted is reported and the rest still goes (exit 1
/// when any failed, as docker; -f: a missing sandbox is not a failure).</summary>
internal static class RmCommand
{
    public static Command Create()
    {
        var ids = new Argument<string[]>("sandbox") { Description = "Sandbox ids", Arity = ArgumentArity.OneOrMore };
        var force = new Option<bool>("--force", "-f") { Description = "A sandbox that does not exist is not an error" };
        var socket = Sandboxd.SocketOption();
        var command = new Command("rm", "Delete sandboxes (kills everything in them)") { force, socket };
        command.Arguments.Add(ids);
        command.SetAction((parse, ct) => Sandboxd.GuardAsync(parse.GetValue(socket), async () =>
        {
            var client = Sandboxd.Connect(parse.GetValue(socket));
            var failed = 0;
            foreach (var id in parse.GetValue(ids)!)
            {
                try
                {
                    await client.DeleteSandboxAsync(new DeleteSandboxRequest { Id = id }, cancellationToken: ct);
                    StdStreams.OutText.WriteLine(id);
                }
                catch (RpcException e) when (e.StatusCode == StatusCode.NotFound && parse.GetValue(force))
                {
                    // As docker: -f makes a missing sandbox no error, and prints nothing for it (nothing was deleted).
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
}
