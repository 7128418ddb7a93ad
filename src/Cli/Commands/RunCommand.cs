using System.CommandLine;
using Google.Protobuf.WellKnownTypes;
using Sandbox.Api.V1;
using Sandbox.Cli.Commands.Remote;
using Sandbox.Cli.Parsing;
using Sandbox.Cli.Terminal;

namespace Sandbox.Cli.Commands;

/// <summary>`sandbox run [flags] CMD [ARGS...]`: one process in a fresh sandbox, output streamed live, the process's
/// exit code returned (see <see cref="ExitCodes"/> for the CLI's own). Flags end at the program (docker's rule,
/// <see cref="PositionalStop"/>). Without a tty it is one Run call through sandboxd (policy, sandbox, process and
/// teardown in one round trip; stdin, signals and EPIPE handled as for exec); with -t it creates a sandbox, execs the
/// program on a pty in it and deletes it whatever happens. --local does the same in this process.</summary>
public static class RunCommand
{
    public static Command Create()
    {
        var options = new SandboxOptions();
        var interactive = new Option<bool>("--interactive", "-i") { Description = "Pass this terminal's stdin to the process" };
        var tty = new Option<bool>("--tty", "-t") { Description = "Give the process a terminal (with -i: an interactive session, as docker -it)" };
        var rm = new Option<bool>("--rm") { Description = "Accepted for docker compatibility: a run's sandbox is always removed" };
        var command = ProgramArgument.Create("The program and its arguments");
        var local = new Option<bool>("--local") { Description = "Run in this process instead of sandboxd, through the same policy (embedded default bundle, tenant 'local')" };
        var socket = Sandboxd.SocketOption();

        var run = new Command("run", "Run a command in a new sandbox (through sandboxd, or in-process with --local)");
        options.AddTo(run);
        foreach (var o in new System.CommandLine.Option[] { interactive, tty, rm, local, socket })
            run.Options.Add(o);
        run.Arguments.Add(command);
        run.SetAction((parse, cancellationToken) =>
        {
            var flags = options.Parse(parse);
            var argv = parse.GetValue(command)!;
            return parse.GetValue(local)
                ? LocalRun.RunAsync(flags, argv, parse.GetValue(interactive), parse.GetValue(tty), cancellationToken)
                : RunRemoteAsync(flags, argv, parse.GetValue(interactive), parse.GetValue(tty), parse.GetValue(socket));
        });
        return PositionalStop.Register(run, leadingPositionals: 0);
    }

    private static Task<int> RunRemoteAsync(RunFlags flags, string[] argv, bool interactive, bool tty, string? socket) =>
        Sandboxd.GuardAsync(socket, () => tty ? CreateExecDeleteAsync(flags, argv, interactive, socket) : OneCallAsync(flags, argv, interactive, socket));

    /// <summary>One Run call: the process's timeout is what was asked, else the policy's (the server applies it).</summary>
    private static async Task<int> OneCallAsync(RunFlags flags, string[] argv, bool interactive, string? socket)
    {
        if (!interactive)
            OneThreadPoolWorker();
        var process = new ProcessStart { Stdin = interactive, Timeout = flags.Timeout is { } t ? Duration.FromTimeSpan(t) : null };
        process.Argv.AddRange(argv);
        using var call = new RunCall(RunInvoker.Start(Sandboxd.SingleCallChannel(socket)), new RunStart { Sandbox = flags.ToProto(), Process = process });
        using var session = new ProcessSession(call, interactive, tty: false);
        return await session.RunAsync(started => Sandboxd.ReportGrant(flags, started.Tier, started.Limits), CancellationToken.None);
    }

    /// <summary>Holds the thread pool to one worker for a call without stdin. Each worker a NativeAOT process starts waits
    /// for the new thread to run, and the pool starts two or three for the call's few hops (README "Benchmarks", CLI
    /// round 5). Nothing on this path blocks a worker but a write to a full stdout, which holds the output back with or
    /// without a second worker. SIGINT, SIGTERM and SIGQUIT are handled on a thread of the runtime's own; SIGHUP on the
    /// pool, so only its forwarding waits while such a write blocks. With -i the stdin pump blocks a worker on a read,
    /// so the pool keeps its default there.</summary>
    private static void OneThreadPoolWorker()
    {
        // Min before max: the pool refuses a maximum under its minimum (the processor count). Refused, it keeps its default.
        if (ThreadPool.SetMinThreads(1, 1))
            ThreadPool.SetMaxThreads(1, 1);
    }

    /// <summary>Create, exec on a pty, delete (the Run call has no terminal). The sandbox's TTL is the process's timeout
    /// plus a minute, so a CLI killed with SIGKILL leaves nothing for long.</summary>
    private static async Task<int> CreateExecDeleteAsync(RunFlags flags, string[] argv, bool interactive, string? socket)
    {
        var client = Sandboxd.Connect(socket);
        var request = flags.ToProto();
        request.RequestId = Guid.NewGuid().ToString("N");
        if (flags.Timeout is { } t)
            request.Ttl = Duration.FromTimeSpan(t + TimeSpan.FromMinutes(1));
        var sandbox = await client.CreateSandboxAsync(request);
        try
        {
            Sandboxd.ReportGrant(flags, sandbox.Tier, sandbox.Limits);
            var timeout = flags.Timeout is { } asked ? Duration.FromTimeSpan(asked) : sandbox.Limits?.Timeout;
            if (flags.Timeout is null && timeout is not null)
            {
                await client.UpdateSandboxAsync(new UpdateSandboxRequest
                {
                    Sandbox = new Api.V1.Sandbox { Id = sandbox.Id, Ttl = Duration.FromTimeSpan(timeout.ToTimeSpan() + TimeSpan.FromMinutes(1)) },
                    UpdateMask = new FieldMask { Paths = { "ttl" } },
                });
            }
            return await ExecCommand.ExecAsync(client, sandbox.Id, argv, interactive, true, timeout, null, null);
        }
        finally
        {
            await client.DeleteSandboxAsync(new DeleteSandboxRequest { Id = sandbox.Id, AllowMissing = true });
        }
    }
}
