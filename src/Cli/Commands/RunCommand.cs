using System.CommandLine;
using Sandbox.Isolation;
using Sandbox.Isolation.Container;
using Sandbox.Api.V1;
using Sandbox.Cli.Commands.Remote;
using ResourceLimits = Sandbox.Isolation.ResourceLimits;

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
        var profile = new Option<string>("--profile") { Description = "Seccomp profile: default or strict", DefaultValueFactory = _ => "default" };
        var rootfs = new Option<string?>("--rootfs") { Description = "A directory to use as the root file system (default: the host's userland, read-only)" };
        var env = new Option<string[]>("--env", "-e") { Description = "Environment variable K=V (repeatable)", AllowMultipleArgumentsPerToken = false };
        var workdir = new Option<string?>("--workdir", "-w") { Description = "Working directory inside the sandbox (a fresh tmpfs; default /work)" };
        var interactive = new Option<bool>("--interactive", "-i") { Description = "Pass this terminal's stdin to the process" };
        var command = new Argument<string[]>("command") { Description = "The program and its arguments (after --)", Arity = ArgumentArity.OneOrMore };
        var local = new Option<bool>("--local") { Description = "Run with the in-process engine instead of sandboxd (no policy; --profile applies)" };
        var tier = new Option<string?>("--tier") { Description = "Tier hint for sandboxd's policy: auto, container or microvm" };
        var socket = Sandboxd.SocketOption();

        var run = new Command("run", "Run a command in a new sandbox (through sandboxd, or in-process with --local)")
        {
            memory, pids, cpus, timeout, disk, outputLimit, profile, rootfs, env, workdir, interactive, command, local, tier, socket,
        };
        run.SetAction(async (parse, cancellationToken) =>
        {
            SandboxSpec spec;
            ProcessSpec process;
            try
            {
                var limits = ResourceLimits.Default;
                if (parse.GetValue(memory) is { } m) limits = limits with { MemoryMiB = Units.ParseBytes(m) >> 20 };
                if (parse.GetValue(pids) is { } p) limits = limits with { PidsMax = p };
                if (parse.GetValue(cpus) is { } c) limits = limits with { Cpus = c };
                if (parse.GetValue(timeout) is { } t) limits = limits with { WallTime = Units.ParseDuration(t) };
                if (parse.GetValue(disk) is { } d) limits = limits with { DiskMiB = Units.ParseBytes(d) >> 20 };
                if (parse.GetValue(outputLimit) is { } o) limits = limits with { OutputBytes = Units.ParseBytes(o) };
                spec = new SandboxSpec
                {
                    Limits = limits,
                    SyscallProfile = parse.GetValue(profile)!,
                    Rootfs = parse.GetValue(rootfs) is { } r ? RootfsSpec.Directory(Path.GetFullPath(r)) : RootfsSpec.Host,
                    WorkDir = parse.GetValue(workdir) ?? "/work",
                    Env = ParseEnv(parse.GetValue(env) ?? []),
                };
                process = new ProcessSpec { Argv = parse.GetValue(command)! };
            }
            catch (FormatException e)
            {
                await Console.Error.WriteLineAsync($"sandbox: {e.Message}");
                return ExitCodes.SandboxError;
            }
            if (!parse.GetValue(local))
            {
                try
                {
                    return await RunRemoteAsync(spec, process, ToRequest(spec, parse.GetValue(tier), parse.GetValue(memory) is not null,
                        parse.GetValue(pids) is not null, parse.GetValue(cpus) is not null, parse.GetValue(timeout) is not null,
                        parse.GetValue(disk) is not null, parse.GetValue(rootfs) is not null), parse.GetValue(interactive), parse.GetValue(socket), cancellationToken);
                }
                catch (FormatException e)
                {
                    await Console.Error.WriteLineAsync($"sandbox: {e.Message}");
                    return ExitCodes.SandboxError;
                }
            }
            return await RunAsync(spec, process, parse.GetValue(interactive), cancellationToken);
        });
        return run;
    }

    /// <summary>The same flags as a sandboxd request: only what the user set is sent (the policy fills the rest).</summary>
    private static CreateSandboxRequest ToRequest(SandboxSpec spec, string? tier, bool memory, bool pids, bool cpus, bool timeout, bool disk, bool rootfs)
    {
        var request = new CreateSandboxRequest
        {
            Tier = Sandboxd.ParseTier(tier),
            Rootfs = rootfs && spec.Rootfs is DirectoryRootfs d ? d.Path : "",
            Workdir = spec.WorkDir,
            Resources = new Resources
            {
                MemoryMib = memory ? spec.Limits.MemoryMiB : 0,
                Pids = pids ? spec.Limits.PidsMax : 0,
                Vcpus = cpus ? spec.Limits.Cpus : 0,
                TimeoutS = timeout && spec.Limits.WallTime is { } w ? (int)Math.Ceiling(w.TotalSeconds) : 0,
                DiskMib = disk ? spec.Limits.DiskMiB : 0,
                OutputBytes = spec.Limits.OutputBytes,
            },
        };
        foreach (var (k, v) in spec.Env)
            request.Env[k] = v;
        return request;
    }

    private static Task<int> RunRemoteAsync(SandboxSpec spec, ProcessSpec process, CreateSandboxRequest request, bool interactive, string? socket,
        CancellationToken cancellationToken) => Sandboxd.GuardAsync(socket, async () =>
    {
        var client = Sandboxd.Connect(socket);
        var start = new ProcessStart { Stdin = interactive, Cwd = process.WorkingDirectory ?? "" };
        start.Argv.AddRange(process.Argv);
        if (request.Resources.TimeoutS > 0 && spec.Limits.WallTime is { } w)
            start.TimeoutMs = (int)Math.Min(int.MaxValue, w.TotalMilliseconds);
        using var call = client.Run(cancellationToken: cancellationToken);
        return await Sandboxd.StreamAsync(call, new RunRequest { Start = new RunStart { Sandbox = request, Process = start } }, interactive,
            data => new RunRequest { Stdin = data }, () => new RunRequest { CloseStdin = new StdinClose() }, cancellationToken);
    });

    private static async Task<int> RunAsync(SandboxSpec spec, ProcessSpec process, bool interactive, CancellationToken cancellationToken)
    {
        var driver = new BubblewrapDriver();
        var io = new ProcessIO
        {
            Stdin = interactive ? Console.OpenStandardInput() : null,
            Stdout = Console.OpenStandardOutput(),
            Stderr = Console.OpenStandardError(),
        };
        try
        {
            var status = await driver.RunAsync(spec, process, io, cancellationToken);
            if (status.TimedOut)
            {
                await Console.Error.WriteLineAsync($"sandbox: timed out after {spec.Limits.WallTime?.TotalSeconds:0.###} s");
                return ExitCodes.Timeout;
            }
            if (status.OomKilled)
            {
                await Console.Error.WriteLineAsync($"sandbox: killed by the OOM killer (memory limit {spec.Limits.MemoryMiB} MiB)");
                return ExitCodes.OutOfMemory;
            }
            if (status.OutputTruncated)
                await Console.Error.WriteLineAsync($"sandbox: output truncated at {spec.Limits.OutputBytes} bytes per stream");
            return status.ExitCode;
        }
        catch (SandboxException e)
        {
            await Console.Error.WriteLineAsync($"sandbox: {e.Message}");
            return e.Code == SandboxErrorCode.NotFound ? ExitCodes.NotFound : ExitCodes.SandboxError;
        }
    }

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
