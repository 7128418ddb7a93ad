using System.Diagnostics;
using System.Net.Sockets;
using Sandbox.Isolation.IO;
using Sandbox.Isolation.Native;

namespace Sandbox.Isolation.Container;

/// <summary>The fast path: the command is bwrap's own command (no agent), its stdio are socket pairs pumped here,
/// and the sandbox is gone when this returns. Same results as create + exec + dispose.</summary>
internal static class OneShotRun
{
    public static async Task<ExitStatus> RunAsync(ContainerLauncher launcher, SandboxSpec spec, ProcessSpec process, ProcessIO io,
        CancellationToken cancellationToken)
    {
        var env = DefaultEnvironment.For(spec, process);
        ExecutableLookup.EnsureExists(spec.Rootfs, process.Argv[0], env.GetValueOrDefault("PATH"),
            spec.Rootfs is HostRootfs ? launcher.EtcDirectory(spec) : null);
        var cwd = process.WorkingDirectory ?? spec.WorkDir;

        var (stdout, stdoutRemote) = UnixSocketPair.Create();
        var (stderr, stderrRemote) = UnixSocketPair.Create();
        Socket? stdin = null;
        FileDescriptor? stdinRemote = null;
        using var devNull = File.OpenHandle("/dev/null", FileMode.Open, FileAccess.ReadWrite);
        try
        {
            if (io.Stdin is not null)
                (stdin, stdinRemote) = UnixSocketPair.Create();
            var stopwatch = Stopwatch.StartNew();
            ContainerInstance instance;
            using (stdoutRemote)
            using (stderrRemote)
            using (stdinRemote)
            {
                var stdio = new ContainerLauncher.Stdio(
                    stdinRemote?.Fd ?? (int)devNull.DangerousGetHandle(), stdoutRemote.Fd, stderrRemote.Fd);
                instance = await launcher.LaunchAsync(spec, process.Argv, env, cwd, stdio, [], [], cancellationToken).ConfigureAwait(false);
            }
            await using (instance)
            {
                return await SuperviseAsync(instance, spec, process, io, stdin, stdout, stderr, stopwatch, cancellationToken).ConfigureAwait(false);
            }
        }
        finally
        {
            stdout.Dispose();
            stderr.Dispose();
            stdin?.Dispose();
        }
    }

    private static async Task<ExitStatus> SuperviseAsync(ContainerInstance instance, SandboxSpec spec, ProcessSpec process, ProcessIO io,
        Socket? stdin, Socket stdout, Socket stderr, Stopwatch stopwatch, CancellationToken cancellationToken)
    {
        var outCap = new OutputCap(io.Stdout, spec.Limits.OutputBytes);
        var errCap = new OutputCap(io.Stderr, spec.Limits.OutputBytes);
        using var pumpCancel = new CancellationTokenSource();
        var pumps = Task.WhenAll(outCap.PumpAsync(stdout, pumpCancel.Token), errCap.PumpAsync(stderr, pumpCancel.Token));
        var stdinPump = stdin is not null && io.Stdin is not null ? StdinPump.PumpAsync(io.Stdin, stdin, pumpCancel.Token) : Task.CompletedTask;

        var timedOut = false;
        var limit = process.Timeout ?? spec.Limits.WallTime;
        using var timeout = limit is { } t ? new CancellationTokenSource(t) : new CancellationTokenSource();
        var kill = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var r1 = timeout.Token.UnsafeRegister(static s => ((TaskCompletionSource)s!).TrySetResult(), kill);
        using var r2 = cancellationToken.UnsafeRegister(static s => ((TaskCompletionSource)s!).TrySetResult(), kill);

        var exit = instance.Bwrap.WaitForExitAsync(CancellationToken.None);
        using var exited = new CancellationTokenSource();
        var signals = io.Signals?.DeliverAsync((s, _) => Task.FromResult(OneShotWorkload.Signal(instance.InitPid, s)), exited.Token)
            ?? Task.CompletedTask;
        if (await Task.WhenAny(exit, kill.Task).ConfigureAwait(false) == kill.Task)
        {
            timedOut = timeout.IsCancellationRequested && !cancellationToken.IsCancellationRequested;
            await instance.Cgroup.KillAllAsync(CancellationToken.None).ConfigureAwait(false);
        }
        var code = await exit.ConfigureAwait(false);
        await exited.CancelAsync().ConfigureAwait(false);
        await signals.ConfigureAwait(false);
        // Everything that held the output sockets is gone with the pid namespace; drain what is buffered.
        await pumps.ConfigureAwait(false);
        await pumpCancel.CancelAsync().ConfigureAwait(false);
        await stdinPump.ConfigureAwait(false);
        cancellationToken.ThrowIfCancellationRequested();

        var stats = instance.Cgroup.ReadStats();
        var (exitCode, signal) = ExitStatusMapper.FromBwrapCode(code);
        return ExitStatusMapper.Build(exitCode, signal, timedOut, stats.OomKills > 0, outCap.Truncated || errCap.Truncated,
            stopwatch.Elapsed, new ResourceUsage(stats.CpuTime, stats.MemoryPeakBytes));
    }
}
