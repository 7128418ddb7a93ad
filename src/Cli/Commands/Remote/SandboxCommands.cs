using System.CommandLine;
using Google.Protobuf;
using Sandbox.Api.V1;

namespace Sandbox.Cli.Commands.Remote;

/// <summary>The sandboxd verbs beside `run`: create, exec, ps, rm, cp (docker-like).</summary>
public static class SandboxCommands
{
    public static IEnumerable<Command> Create() => [CreateCommand(), ExecCommand(), PsCommand(), RmCommand(), CpCommand()];

    private static Command CreateCommand()
    {
        var ttl = new Option<int>("--ttl") { Description = "Seconds until sandboxd deletes it (0 = the server's default)" };
        var memory = new Option<string?>("--memory", "-m") { Description = "Memory limit (e.g. 256m)" };
        var tier = new Option<string?>("--tier") { Description = "auto, container or microvm (a hint for the policy)" };
        var labels = new Option<string[]>("--label", "-l") { Description = "Label K=V (repeatable)" };
        var env = new Option<string[]>("--env", "-e") { Description = "Environment variable K=V (repeatable)" };
        var profile = new Option<string?>("--profile") { Description = "Seccomp profile wanted: default or strict (the policy grants it when at least as strict as yours)" };
        var trusted = new Option<bool>("--trusted") { Description = "The code is your own: ask the policy to trust it (default: untrusted code of unknown provenance)" };
        var socket = Sandboxd.SocketOption();
        var command = new Command("create", "Create a long-lived sandbox in sandboxd and print its id") { ttl, memory, tier, labels, env, profile, trusted, socket };
        command.SetAction((parse, ct) => Sandboxd.GuardAsync(parse.GetValue(socket), async () =>
        {
            CreateSandboxRequest request;
            try
            {
                request = new CreateSandboxRequest
                {
                    Ttl = parse.GetValue(ttl) > 0 ? Google.Protobuf.WellKnownTypes.Duration.FromTimeSpan(TimeSpan.FromSeconds(parse.GetValue(ttl))) : null,
                    Tier = Sandboxd.ParseTier(parse.GetValue(tier)),
                    Resources = new Resources { MemoryMib = parse.GetValue(memory) is { } m ? Units.ParseBytes(m) >> 20 : 0 },
                    SyscallProfile = parse.GetValue(profile) ?? "",
                };
                if (parse.GetValue(trusted))
                {
                    request.Untrusted = false;
                    request.CodeProvenance = "tenant";
                }
                request.Labels.Add(Sandboxd.ParsePairs(parse.GetValue(labels) ?? [], "--label"));
                request.Env.Add(Sandboxd.ParsePairs(parse.GetValue(env) ?? [], "--env"));
            }
            catch (FormatException e)
            {
                await Console.Error.WriteLineAsync($"sandbox: {e.Message}");
                return ExitCodes.SandboxError;
            }
            var sandbox = await Sandboxd.Connect(parse.GetValue(socket)).CreateSandboxAsync(request, cancellationToken: ct);
            Console.WriteLine(sandbox.Id);
            return 0;
        }));
        return command;
    }

    private static Command ExecCommand()
    {
        var id = new Argument<string>("sandbox") { Description = "Sandbox id" };
        var argv = new Argument<string[]>("command") { Description = "The program and its arguments (after --)", Arity = ArgumentArity.OneOrMore };
        var interactive = new Option<bool>("--interactive", "-i") { Description = "Pass this terminal's stdin to the process" };
        var workdir = new Option<string?>("--workdir", "-w") { Description = "Working directory inside the sandbox" };
        var env = new Option<string[]>("--env", "-e") { Description = "Environment variable K=V (repeatable)" };
        var socket = Sandboxd.SocketOption();
        var command = new Command("exec", "Run a command in an existing sandbox") { id, argv, interactive, workdir, env, socket };
        command.SetAction((parse, ct) => Sandboxd.GuardAsync(parse.GetValue(socket), async () =>
        {
            var process = new ProcessStart { Stdin = parse.GetValue(interactive), Cwd = parse.GetValue(workdir) ?? "" };
            process.Argv.AddRange(parse.GetValue(argv)!);
            process.Env.Add(Sandboxd.ParsePairs(parse.GetValue(env) ?? [], "--env"));
            using var call = Sandboxd.Connect(parse.GetValue(socket)).Exec(cancellationToken: ct);
            return await Sandboxd.StreamAsync(call, new ExecRequest { Start = new ExecStart { SandboxId = parse.GetValue(id)!, Process = process } },
                process.Stdin, data => new ExecRequest { Stdin = data }, () => new ExecRequest { CloseStdin = new StdinClose() }, ct);
        }));
        return command;
    }

    private static Command PsCommand()
    {
        var labels = new Option<string[]>("--filter", "-f") { Description = "Only sandboxes with label K=V (repeatable)" };
        var quiet = new Option<bool>("--quiet", "-q") { Description = "Print ids only" };
        var socket = Sandboxd.SocketOption();
        var command = new Command("ps", "List your sandboxes in sandboxd") { labels, quiet, socket };
        command.SetAction((parse, ct) => Sandboxd.GuardAsync(parse.GetValue(socket), async () =>
        {
            var client = Sandboxd.Connect(parse.GetValue(socket));
            var request = new ListSandboxesRequest { PageSize = 1000 };
            request.LabelSelector.Add(Sandboxd.ParsePairs(parse.GetValue(labels) ?? [], "--filter"));
            if (!parse.GetValue(quiet))
                Console.WriteLine($"{"ID",-22} {"TIER",-10} {"STATE",-9} {"MEMORY",-8} {"CREATED",-20} {"EXPIRES",-20} LABELS");
            do
            {
                var page = await client.ListSandboxesAsync(request, cancellationToken: ct);
                foreach (var s in page.Sandboxes)
                {
                    if (parse.GetValue(quiet))
                    {
                        Console.WriteLine(s.Id);
                        continue;
                    }
                    var tier = s.Tier == Tier.Microvm ? "microvm" : "container";
                    var state = s.State.ToString().ToLowerInvariant();
                    var expires = s.ExpireTime is null ? "-" : s.ExpireTime.ToDateTime().ToString("u");
                    Console.WriteLine($"{s.Id,-22} {tier,-10} {state,-9} {s.Limits?.MemoryMib + "m",-8} {s.CreateTime.ToDateTime():u} {expires,-20} " +
                        string.Join(",", s.Labels.Select(kv => $"{kv.Key}={kv.Value}")));
                }
                request.PageToken = page.NextPageToken;
            }
            while (request.PageToken.Length > 0);
            return 0;
        }));
        return command;
    }

    private static Command RmCommand()
    {
        var ids = new Argument<string[]>("sandbox") { Description = "Sandbox ids", Arity = ArgumentArity.OneOrMore };
        var socket = Sandboxd.SocketOption();
        var command = new Command("rm", "Delete sandboxes (kills everything in them)") { ids, socket };
        command.SetAction((parse, ct) => Sandboxd.GuardAsync(parse.GetValue(socket), async () =>
        {
            var client = Sandboxd.Connect(parse.GetValue(socket));
            foreach (var id in parse.GetValue(ids)!)
            {
                await client.DeleteSandboxAsync(new DeleteSandboxRequest { Id = id }, cancellationToken: ct);
                Console.WriteLine(id);
            }
            return 0;
        }));
        return command;
    }

    private static Command CpCommand()
    {
        var source = new Argument<string>("source") { Description = "HOSTFILE or SANDBOX:/path" };
        var target = new Argument<string>("target") { Description = "SANDBOX:/path or HOSTFILE ('-' = stdout)" };
        var socket = Sandboxd.SocketOption();
        var command = new Command("cp", "Copy one file into or out of a sandbox") { source, target, socket };
        command.SetAction((parse, ct) => Sandboxd.GuardAsync(parse.GetValue(socket), async () =>
        {
            var client = Sandboxd.Connect(parse.GetValue(socket));
            var (src, dst) = (parse.GetValue(source)!, parse.GetValue(target)!);
            if (SplitRemote(dst) is { } to && SplitRemote(src) is null)
            {
                using var call = client.WriteFile(cancellationToken: ct);
                await call.RequestStream.WriteAsync(new WriteFileRequest { Header = new WriteFileHeader { SandboxId = to.Id, Path = to.Path } }, ct);
                await using var file = File.OpenRead(src);
                var buffer = new byte[1 << 20];
                int n;
                while ((n = await file.ReadAsync(buffer, ct)) > 0)
                    await call.RequestStream.WriteAsync(new WriteFileRequest { Data = ByteString.CopyFrom(buffer, 0, n) }, ct);
                await call.RequestStream.CompleteAsync();
                await call;
                return 0;
            }
            if (SplitRemote(src) is { } from && SplitRemote(dst) is null)
            {
                using var call = client.ReadFile(new ReadFileRequest { SandboxId = from.Id, Path = from.Path }, cancellationToken: ct);
                await using var output = dst == "-" ? Console.OpenStandardOutput() : File.Create(dst);
                while (await call.ResponseStream.MoveNext(ct))
                    call.ResponseStream.Current.Data.WriteTo(output);
                return 0;
            }
            await Console.Error.WriteLineAsync("sandbox: cp needs exactly one side of the form SANDBOX:/path");
            return ExitCodes.SandboxError;
        }));
        return command;
    }

    private static (string Id, string Path)? SplitRemote(string arg)
    {
        var colon = arg.IndexOf(':');
        return colon > 0 && colon + 1 < arg.Length && arg[colon + 1] == '/' ? (arg[..colon], arg[(colon + 1)..]) : null;
    }
}
