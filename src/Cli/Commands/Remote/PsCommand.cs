using System.CommandLine;
using Google.Protobuf;
using Sandbox.Api.V1;
using Sandbox.Cli.Parsing;
using Sandbox.Cli.Terminal;

namespace Sandbox.Cli.Commands.Remote;

/// <summary>`sandbox ps [-f label=value] [-q] [--format table|json]`: the caller's sandboxes.</summary>
internal static class PsCommand
{
    public static Command Create()
    {
        var filters = new Option<string[]>("--filter", "-f") { Description = "Only sandboxes with label NAME=VALUE (repeatable)" };
        var quiet = new Option<bool>("--quiet", "-q") { Description = "Print ids only" };
        var format = new Option<string>("--format") { Description = "table (default) or json (an array of sandbox.v1.Sandbox in proto JSON)", DefaultValueFactory = _ => "table" };
        var socket = Sandboxd.SocketOption();
        var command = new Command("ps", "List your sandboxes in sandboxd") { filters, quiet, format, socket };
        command.SetAction((parse, ct) =>
        {
            var request = new ListSandboxesRequest { PageSize = 1000 };
            request.LabelSelector.Add(Pairs.Parse(parse.GetValue(filters) ?? [], "--filter"));
            var shape = parse.GetValue(format);
            if (shape is not ("table" or "json"))
                throw new UsageException($"--format '{shape}' must be table or json");
            return Sandboxd.GuardAsync(parse.GetValue(socket), async () =>
            {
                var client = Sandboxd.Connect(parse.GetValue(socket));
                var all = new List<Api.V1.Sandbox>();
                do
                {
                    var page = await client.ListSandboxesAsync(request, cancellationToken: ct);
                    all.AddRange(page.Sandboxes);
                    request.PageToken = page.NextPageToken;
                }
                while (request.PageToken.Length > 0);
                var output = StdStreams.OutText;
                if (parse.GetValue(quiet))
                {
                    foreach (var s in all)
                        output.WriteLine(s.Id);
                }
                else if (shape == "json")
                {
                    output.WriteLine("[" + string.Join(",\n", all.Select(s => JsonFormatter.Default.Format(s))) + "]");
                }
                else
                {
                    output.WriteLine($"{"ID",-22} {"TIER",-10} {"STATE",-9} {"MEMORY",-8} {"CREATED",-20} {"EXPIRES",-20} LABELS");
                    foreach (var s in all)
                    {
                        var tier = s.Tier == Tier.Microvm ? "microvm" : "container";
                        var state = s.State.ToString().ToLowerInvariant();
                        var expires = s.ExpireTime is null ? "-" : s.ExpireTime.ToDateTime().ToString("u");
                        output.WriteLine($"{s.Id,-22} {tier,-10} {state,-9} {s.Limits?.MemoryMib + "m",-8} {s.CreateTime?.ToDateTime():u} {expires,-20} " +
                            string.Join(",", s.Labels.Select(kv => $"{kv.Key}={kv.Value}")));
                    }
                }
                return 0;
            });
        });
        return command;
    }
}
