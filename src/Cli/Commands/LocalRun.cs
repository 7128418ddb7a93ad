using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging.Abstractions;
using Sandbox.Core;
using Sandbox.Cli.Terminal;
using Sandbox.Isolation;
using Sandbox.Isolation.Container;
using Sandbox.Isolation.MicroVm;
using Sandbox.Policy;
using ResourceLimits = Sandbox.Isolation.ResourceLimits;

namespace Sandbox.Cli.Commands;

/// <summary>`sandbox run --local`: the same Core as sandboxd, in this process, with the embedded default policy bundle
/// (tenant "local") and this host's drivers. Without a tty it is Core's one-shot run (signals forwarded to the process);
/// with -t: create, exec on a pty, delete. Nothing is persisted and the sandbox dies with the CLI.</summary>
internal static class LocalRun
{
    public const string Tenant = "local";

    public static async Task<int> RunAsync(RunFlags flags, string[] argv, bool interactive, bool tty, CancellationToken cancellationToken)
    {
        await using var core = SandboxCore.Create(new SandboxCoreOptions { Images = ImageStoreLocation.Options }, EmbeddedPolicyEngine.CreateDefault(new HostCeilings(), NullLogger<EmbeddedPolicyEngine>.Instance),
            [new BubblewrapDriver(new BubblewrapOptions { AgentDirectory = AgentDirectory.FromEnvironment() }),
                new MicroVmDriver(new MicroVmOptions { AgentDirectory = AgentDirectory.FromEnvironment() })]);
        var principal = new Principal(Tenant, "uid:" + Environment.UserName);
        using var kill = new CancellationTokenSource();
        var stdout = new PipeGuardStream(StdStreams.Out, kill.Cancel);
        var io = new ProcessIO
        {
            Stdin = interactive ? StdStreams.OpenIn() : null,
            Stdout = stdout,
            Stderr = StdStreams.Err,
            Signals = tty ? null : new ProcessSignals(),
        };
        try
        {
            var (status, limits, timeout) = tty
                ? await CreateExecDeleteAsync(core, principal, flags, argv, interactive, io, kill, cancellationToken)
                : await OneShotAsync(core, principal, flags, argv, io, kill, cancellationToken);
            if (stdout.Broken)
                return ExitCodes.BrokenPipe;
            if (kill.IsCancellationRequested)
                return ExitCodes.Interrupted;
            if (status.TimedOut)
            {
                StdStreams.Error($"timed out after {timeout?.TotalSeconds:0.###} s");
                return ExitCodes.Timeout;
            }
            if (status.OomKilled)
            {
                StdStreams.Error($"killed by the OOM killer (memory limit {limits.MemoryMiB} MiB)");
                return ExitCodes.OutOfMemory;
            }
            if (status.OutputTruncated)
                StdStreams.Error($"output truncated at {limits.OutputBytes} bytes per stream");
            return status.ExitCode;
        }
        catch (OperationCanceledException) when (kill.IsCancellationRequested)
        {
            return stdout.Broken ? ExitCodes.BrokenPipe : ExitCodes.Interrupted;
        }
        catch (PolicyDeniedException e)
        {
            StdStreams.Error(e.Message);
            return ExitCodes.PolicyDenied;
        }
        catch (SandboxException e)
        {
            StdStreams.Error(e.Message);
            return e.Code switch
            {
                SandboxErrorCode.NotFound => ExitCodes.NotFound,
                SandboxErrorCode.PermissionDenied => ExitCodes.NotExecutable,
                SandboxErrorCode.InvalidArgument => ExitCodes.Usage,
                _ => ExitCodes.SandboxError,
            };
        }
    }

    /// <summary>Core's one-shot run: policy, sandbox, process and teardown in one call; cancelling <paramref name="kill"/>
    /// kills it.</summary>
    private static async Task<(ExitStatus, ResourceLimits, TimeSpan?)> OneShotAsync(SandboxCore core, Principal principal, RunFlags flags,
        string[] argv, ProcessIO io, CancellationTokenSource kill, CancellationToken cancellationToken)
    {
        var granted = ResourceLimits.Default;
        var spec = new ProcessSpec { Argv = argv, Timeout = flags.Timeout };
        using var forwarding = ForwardSignals(io.Signals!.Send, kill);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, kill.Token);
        var status = await core.Sandboxes.RunAsync(principal, flags.ToCore(), spec, io, started =>
        {
            granted = started.Limits;
            Describe(flags, started.Tier, granted);
            return Task.CompletedTask;
        }, linked.Token);
        return (status, granted, flags.Timeout ?? granted.WallTime);
    }

    /// <summary>Create, exec on a pty (signals reach it through the pty's owner), delete whatever happens.</summary>
    private static async Task<(ExitStatus, ResourceLimits, TimeSpan?)> CreateExecDeleteAsync(SandboxCore core, Principal principal, RunFlags flags,
        string[] argv, bool interactive, ProcessIO io, CancellationTokenSource kill, CancellationToken cancellationToken)
    {
        var entry = await core.Sandboxes.CreateAsync(principal, flags.ToCore(), cancellationToken);
        try
        {
            var limits = entry.Info!.Limits;
            Describe(flags, entry.Tier, limits);
            var size = TerminalNative.WindowSize(1) is { } s ? new TerminalSize(s.Rows, s.Cols) : TerminalSize.Default;
            var spec = new ProcessSpec { Argv = argv, Timeout = flags.Timeout ?? limits.WallTime, Tty = size };
            using var raw = interactive ? RawMode.Enter() : RawMode.EnterOutput();
            var process = await core.Sandboxes.ExecAsync(principal, entry.Id, spec, io, kill.Token);
            using var forwarding = ForwardSignals(signal => _ = process.SignalAsync(signal, CancellationToken.None)
                .ContinueWith(t => _ = t.Exception, TaskScheduler.Default), kill);
            // A resized terminal resizes the sandbox's pty (the workload gets its SIGWINCH there).
            using var sigwinch = PosixSignalRegistration.Create(PosixSignal.SIGWINCH, c =>
            {
                c.Cancel = true;
                if (TerminalNative.WindowSize(1) is { } now)
                    _ = process.ResizeAsync(new TerminalSize(now.Rows, now.Cols), CancellationToken.None).ContinueWith(t => _ = t.Exception, TaskScheduler.Default);
            });
            var status = await process.Completion;
            return (status, limits, spec.Timeout);
        }
        finally
        {
            try
            {
                await core.Sandboxes.DeleteAsync(principal, entry.Id);
            }
            catch (SandboxException)
            {
                // Already gone: disposing Core removes whatever is left.
            }
        }
    }

    private static void Describe(RunFlags flags, SandboxTier tier, ResourceLimits limits)
    {
        if (flags.Verbose)
            StdStreams.Error($"{(tier == SandboxTier.MicroVm ? "microvm" : "container")} tier, memory {limits.MemoryMiB} MiB, pids {limits.PidsMax}, timeout {limits.WallTime?.TotalSeconds:0.###} s");
    }

    /// <summary>SIGINT, SIGTERM and SIGHUP go to the process (a trap fires); a second SIGINT cancels <paramref name="kill"/>.</summary>
    private static CompositeDisposable ForwardSignals(Action<int> forward, CancellationTokenSource kill)
    {
        var interrupts = 0;
        void Forward(PosixSignalContext c, int number)
        {
            c.Cancel = true;
            if (number == 2 && Interlocked.Increment(ref interrupts) > 1)
            {
                kill.Cancel();
                return;
            }
            forward(number);
        }
        return new CompositeDisposable(
            PosixSignalRegistration.Create(PosixSignal.SIGINT, c => Forward(c, 2)),
            PosixSignalRegistration.Create(PosixSignal.SIGTERM, c => Forward(c, 15)),
            PosixSignalRegistration.Create(PosixSignal.SIGHUP, c => Forward(c, 1)));
    }

    private sealed class CompositeDisposable(params IDisposable[] items) : IDisposable
    {
        public void Dispose()
        {
            foreach (var item in items)
                item.Dispose();
        }
    }

    /// <summary>Stdout that notices a reader gone away (EPIPE): it stops writing, remembers, and ends the run.</summary>
    private sealed class PipeGuardStream(Stream inner, Action onBroken) : Stream
    {
        public bool Broken { get; private set; }
        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

        public override void Write(ReadOnlySpan<byte> buffer)
        {
            if (Broken)
                return;
            try
            {
                inner.Write(buffer);
            }
            catch (IOException)
            {
                Broken = true;
                onBroken();
            }
        }

        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            Write(buffer.Span);
            return ValueTask.CompletedTask;
        }

        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override void Flush()
        {
        }

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
    }
}
