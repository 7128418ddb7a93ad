using System.CommandLine;
using Sandbox.Api.V1;
using Sandbox.Cli.Commands.Remote;
using Sandbox.Isolation;

namespace Sandbox.Cli.Commands;

/// <summary>`sandbox run [limits] -- CMD ARGS...`: one process in a fresh sandbox, output streamed live, the process's
/// exit code returned (see <see cref="ExitCodes"/> for the engine's own).</summary>
public static class RunCommand
{
    public static Command Create()
    {
        var memory = new Option<string?>("--memory", "-m") { Description = "Memory limit for the whole sandbox (e.g. 256m, 1g)" };
        var pids = new Option<int?>("--pids") { Description = "Maximum number of processes and threads" };
        var cpus = new Option<double?>("--cpus") { Description = "CPU quota in CPUs (e.g. 0.5)" };
        var timeout = new Option<string?>("--timeout", "-t") { Description = "Wall-clock limit (e.g. 10s, 2m)" };
        var disk = new Option<string?>("--disk") { Description = "Size cap of /tmp and of the work dir (e.g. 64m)" };
        var outputLimit = new Option<string?>("--output-limit") { Description = "Bytes kept of stdout and of stderr each (e.g. 1m)" };
        var profile = new Option<string?>("--profile") { Description = "Seccomp profile wanted: default or strict (the policy grants it when at least as strict as yours)" };
        var rootfs = new Option<string?>("--rootfs") { Description = "A directory to use as the root file system (default: the host's userland, read-only)" };
        var env = new Option<string[]>("--env", "-e") { Description = "Environment variable K=V (repeatable)", AllowMultipleArgumentsPerToken = false };
        var workdir = new Option<string?>("--workdir", "-w") { Description = "Working directory inside the sandbox (a fresh tmpfs; default /work)" };
        var interactive = new Option<bool>("--interactive", "-i") { Description = "Pass this terminal's stdin to the process" };
        var command = new Argument<string[]>("command") { Description = "The program and its arguments (after --)", Arity = ArgumentArity.OneOrMore };
        var local = new Option<bool>("--local") { Description = "Run in this process instead of sandboxd, through the same policy (embedded default bundle, tenant 'local')" };
        var tier = new Option<string?>("--tier") { Description = "Tier hint for the policy: auto, container or microvm" };
        var trusted = new Option<bool>("--trusted") { Description = "The code is your own: ask the policy to trust it (default: untrusted code of unknown provenance)" };
        var socket = Sandboxd.SocketOption();

        var run = new Command("run", "Run a command in a new sandbox (through sandboxd, or in-process with --local)")
        {
            memory, pids, cpus, timeout, disk, outputLimit, profile, rootfs, env, workdir, interactive, command, local, tier, trusted, socket,
        };
        run.SetAction(async (parse, cancellationToken) =>
        {
            RunFlags flags;
            ProcessSpec process;
            try
            {
                flags = new RunFlags
                {
                    MemoryMiB = parse.GetValue(memory) is { } m ? Units.ParseBytes(m) >> 20 : null,
                    Pids = parse.GetValue(pids),
                    Cpus = parse.GetValue(cpus),
                    Timeout = parse.GetValue(timeout) is { } t ? Units.ParseDuration(t) : null,
                    DiskMiB = parse.GetValue(disk) is { } d ? Units.ParseBytes(d) >> 20 : null,
                    OutputBytes = parse.GetValue(outputLimit) is { } o ? Units.ParseBytes(o) : null,
                    Profile = parse.GetValue(profile),
                    Rootfs = parse.GetValue(rootfs) is { } r ? Path.GetFullPath(r) : null,
                    WorkDir = parse.GetValue(workdir),
                    Env = ParseEnv(parse.GetValue(env) ?? []),
                    Tier = parse.GetValue(tier),
                    Trusted = parse.GetValue(trusted),
                };
                RunFlags.ParseTier(flags.Tier);
                // The process asks for exactly the given duration; the policy sees whole seconds and may lower it.
                process = new ProcessSpec { Argv = parse.GetValue(command)!, Timeout = flags.Timeout };
            }
            catch (FormatException e)
            {
                await Console.Error.WriteLineAsync($"sandbox: {e.Message}");
                return ExitCodes.SandboxError;
            }
            return parse.GetValue(local)
                ? await LocalRun.RunAsync(flags.ToCore(), process, parse.GetValue(interactive), cancellationToken)
                : await RunRemoteAsync(flags.ToProto(), process, parse.GetValue(interactive), parse.GetValue(socket), cancellationToken);
        });
        return run;
    }

    private static Task<int> RunRemoteAsync(CreateSandboxRequest request, ProcessSpec process, bool interactive, string? socket,
        CancellationToken cancellationToken) => Sandboxd.GuardAsync(socket, async () =>
    {
        var client = Sandboxd.Connect(socket);
        var start = new ProcessStart { Stdin = interactive, Cwd = process.WorkingDirectory ?? "" };
        start.Argv.AddRange(process.Argv);
        if (process.Timeout is { } w)
            start.Timeout = Google.Protobuf.WellKnownTypes.Duration.FromTimeSpan(w);
        using var call = client.Run(cancellationToken: cancellationToken);
        return await Sandboxd.StreamAsync(call, new RunRequest { Start = new RunStart { Sandbox = request, Process = start } }, interactive,
            data => new RunRequest { Stdin = data }, () => new RunRequest { CloseStdin = new StdinClose() }, cancellationToken);
    });

    private static Dictionary<string, string> ParseEnv(string[] pairs)
    {
        var env = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var pair in pairs)
        {
            var eq = pair.IndexOf('=');
            if (eq <= 0)
                throw new FormatException($"--env '{pair}' must be NAME=VALUE");
            env[pair[..eq]] = pair[(eq + 1)..];
        }
        return env;
    }
}
