using System.CommandLine;
using Google.Protobuf.WellKnownTypes;
using Sandbox.Api.V1;
using Sandbox.Cli.Terminal;

namespace Sandbox.Cli.Commands.Remote;

/// <summary>`sandbox create [flags]`: a long-lived sandbox with the same flags as run, plus TTL and labels; prints its id.</summary>
internal static class CreateCommand
{
    public static Command Create()
    {
        var options = new SandboxOptions();
        var ttl = new Option<string?>("--ttl") { Description = "Time until sandboxd deletes it (e.g. 30m, 2h; default: the server's)" };
        var labels = new Option<string[]>("--label", "-l") { Description = "Label NAME=VALUE (repeatable)" };
        var socket = Sandboxd.SocketOption();
        var command = new Command("create", "Create a long-lived sandbox in sandboxd and print its id");
        options.AddTo(command);
        command.Options.Add(ttl);
        command.Options.Add(labels);
        command.Options.Add(socket);
        command.SetAction((parse, ct) =>
        {
            var flags = options.Parse(parse);
            var request = flags.ToProto();
            if (parse.GetValue(ttl) is { } t)
                request.Ttl = Duration.FromTimeSpan(Units.ParseDuration(t, "--ttl"));
            request.Labels.Add(Pairs.Parse(parse.GetValue(labels) ?? [], "--label"));
            request.RequestId = Guid.NewGuid().ToString("N");
            return Sandboxd.GuardAsync(parse.GetValue(socket), async () =>
            {
                var sandbox = await Sandboxd.Connect(parse.GetValue(socket)).CreateSandboxAsync(request, cancellationToken: ct);
                Sandboxd.ReportGrant(flags, sandbox.Tier, sandbox.Limits);
                StdStreams.OutText.WriteLine(sandbox.Id);
                return 0;
            });
        });
        return command;
    }
}
