using System.CommandLine;
using Google.Protobuf;
using Sandbox.Api.V1;
using Sandbox.Cli.Terminal;

namespace Sandbox.Cli.Commands.Remote;

/// <summary>`sandbox inspect ID...`: each sandbox as JSON (proto JSON of sandbox.v1.Sandbox: tier, accelerator,
/// namespaces, seccomp digest, limits, policy decision and reasons, times), indented, in an array as docker prints.</summary>
internal static class InspectCommand
{
    public static Command Create()
    {
        var ids = new Argument<string[]>("sandbox") { Description = "Sandbox ids", Arity = ArgumentArity.OneOrMore };
        var socket = Sandboxd.SocketOption();
        var command = new Command("inspect", "Show sandboxes as JSON") { socket };
        command.Arguments.Add(ids);
        command.SetAction((parse, ct) => Sandboxd.GuardAsync(parse.GetValue(socket), async () =>
        {
            var client = Sandboxd.Connect(parse.GetValue(socket));
            var formatter = new JsonFormatter(JsonFormatter.Settings.Default.WithFormatDefaultValues(true).WithIndentation("  "));
            var found = new List<string>();
            foreach (var id in parse.GetValue(ids)!)
                found.Add(formatter.Format(await client.GetSandboxAsync(new GetSandboxRequest { Id = id }, cancellationToken: ct)));
            StdStreams.OutText.WriteLine("[\n" + string.Join(",\n", found) + "\n]");
            return 0;
        }));
        return command;
    }
}
