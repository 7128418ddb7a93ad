using System.CommandLine;
using Google.Protobuf.WellKnownTypes;
using Sandbox.Api.V1;
using Sandbox.Cli.Parsing;

namespace Sandbox.Cli.Commands.Remote;

/// <summary>`sandbox exec [flags] SANDBOX CMD [ARGS...]`: a process in an existing sandbox. Without --timeout it runs
/// until the sandbox expires (not the per-process default), as a shell or a server in a long-lived sandbox should.</summary>
internal static class ExecCommand
{
    public static Command Create()
    {
        var id = new Argument<string>("sandbox") { Description = "Sandbox id" };
        var argv = ProgramArgument.Create("The program and its arguments");
        var interactive = new Option<bool>("--interactive", "-i") { Description = "Pass this terminal's stdin to the process" };
        var tty = new Option<bool>("--tty", "-t") { Description = "Give the process a terminal (with -i: an interactive session)" };
        var workdir = new Option<string?>("--workdir", "-w") { Description = "Working directory inside the sandbox" };
        var env = RepeatableOption.Create("--env", ["-e"], "Environment variable NAME=VALUE (repeatable)");
        var timeout = new Option<string?>("--timeout") { Description = "Wall-clock limit of the process (e.g. 30s); default: until the sandbox expires" };
        var user = new Option<string?>("--user", "-u") { Description = "Run as NAME|UID[:GROUP|GID] inside the sandbox (names from its /etc/passwd; not the agent's own id); default: the sandbox's unprivileged user" };
        var socket = Sandboxd.SocketOption();
        var command = new Command("exec", "Run a command in an existing sandbox") { interactive, tty, workdir, env, timeout, user, socket };
        command.Arguments.Add(id);
        command.Arguments.Add(argv);
        command.SetAction((parse, _) =>
        {
            var u = parse.GetValue(user);
            if (u is not null && (u.Length == 0 || u.Split(':') is not { Length: 1 or 2 } parts || parts.Any(p => p.Length == 0)))
                throw new UsageException($"--user '{u}' must be NAME|UID[:GROUP|GID] (e.g. 0, nobody, 1000:1000)");
            var w = parse.GetValue(workdir);
            if (w is not null && !w.StartsWith('/'))
                throw new UsageException($"--workdir '{w}' must be an absolute path inside the sandbox");
            var limit = parse.GetValue(timeout) is { } t ? Duration.FromTimeSpan(Units.ParseDuration(t, "--timeout")) : null;
            var variables = Pairs.Parse(parse.GetValue(env) ?? [], "--env");
            return Sandboxd.GuardAsync(parse.GetValue(socket), () => ExecAsync(Sandboxd.Connect(parse.GetValue(socket)), parse.GetValue(id)!,
                parse.GetValue(argv)!, parse.GetValue(interactive), parse.GetValue(tty), limit, w, variables, u));
        });
        return PositionalStop.Register(command, leadingPositionals: 1);
    }

    public static async Task<int> ExecAsync(Sandboxes.SandboxesClient client, string id, string[] argv, bool interactive, bool tty,
        Duration? timeout, string? workdir, IReadOnlyDictionary<string, string>? env, string? user = null)
    {
        var process = new ProcessStart { Stdin = interactive, Cwd = workdir ?? "", Tty = tty, Timeout = timeout, User = user ?? "" };
        if (tty)
            process.WindowSize = ProcessSession.InitialSize();
        process.Argv.AddRange(argv);
        foreach (var (k, v) in env ?? new Dictionary<string, string>())
            process.Env[k] = v;
        using var call = new ExecCall(client.Exec(), new ExecStart { SandboxId = id, Process = process });
        using var session = new ProcessSession(call, interactive, tty);
        return await session.RunAsync(null, CancellationToken.None);
    }
}
