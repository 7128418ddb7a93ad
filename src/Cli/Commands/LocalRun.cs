using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging.Abstractions;
using Sandbox.Core;
using Sandbox.Cli.Terminal;
using Sandbox.Isolation;
using Sandbox.Isolation.Container;
using Sandbox.Isolation.MicroVm;
using Sandbox.Policy;

namespace Sandbox.Cli.Commands;

/// <summary>`sandbox run --local`: the same Core as sandboxd, in this process, with the embedded default policy bundle
/// (tenant "local") and this host's drivers: create, exec (signals forwarded, a tty when asked), delete. Nothing is
/// persisted and the sandbox dies with the CLI.</summary>
internal static class LocalRun
{
    public const string Tenant = "local";

    public static async Task<int> RunAsync(RunFlags flags, string[] argv, bool interactive, bool tty, CancellationToken cancellationToken)
    {
        await using var core = SandboxCore.Create(new SandboxCoreOptions(), EmbeddedPolicyEngine.CreateDefault(new HostCeilings(), NullLogger<EmbeddedPolicyEngine>.Instance),
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
        };
        SandboxEntry? entry = null;
        try
        {
            entry = await core.Sandboxes.CreateAsync(principal, flags.ToCore(), cancellationToken);
            var limits = entry.Info!.Limits;
            if (flags.Verbose)
                StdStreams.Error($"{(entry.Tier == SandboxTier.MicroVm ? "microvm" : "container")} tier, memory {limits.MemoryMiB} MiB, pids {limits.PidsMax}, timeout {limits.WallTime?.TotalSeconds:0.###} s");
            var size = tty ? (TerminalNative.WindowSize(1) is { } s ? new TerminalSize(s.Rows, s.Cols) : TerminalSize.Default) : null;
            var spec = new ProcessSpec { Argv = argv, Timeout = flags.Timeout ?? limits.WallTime, Tty = size };
            using var raw = !tty ? null : interactive ? RawMode.Enter() : RawMode.EnterOutput();
            var process = await core.Sandboxes.ExecAsync(principal, entry.Id, spec, io, kill.Token);
            var interrupts = 0;
            void Forward(PosixSignalContext c, int number)
            {
                c.Cancel = true;
                if (number == 2 && Interlocked.Increment(ref interrupts) > 1)
                {
                    kill.Cancel();
                    return;
                }
                _ = process.SignalAsync(number, CancellationToken.None).ContinueWith(t => _ = t.Exception, TaskScheduler.Default);
            }
            using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, c => Forward(c, 2));
            using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, c => Forward(c, 15));
            using var sighup = PosixSignalRegistration.Create(PosixSignal.SIGHUP, c => Forward(c, 1));
            // A resized terminal resizes the sandbox's pty (the workload gets its SIGWINCH there).
            using var sigwinch = size is null ? null : PosixSignalRegistration.Create(PosixSignal.SIGWINCH, c =>
            {
                c.Cancel = true;
                if (TerminalNative.WindowSize(1) is { } now)
                    _ = process.ResizeAsync(new TerminalSize(now.Rows, now.Cols), CancellationToken.None).ContinueWith(t => _ = t.Exception, TaskScheduler.Default);
            });
            var status = await process.Completion;
            raw?.Dispose();
            if (stdout.Broken)
                return ExitCodes.BrokenPipe;
            if (kill.IsCancellationRequested)
                return ExitCodes.Interrupted;
            if (status.TimedOut)
            {
                StdStreams.Error($"timed out after {spec.Timeout?.TotalSeconds:0.###} s");
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
        finally
        {
            if (entry is not null)
            {
                try
                {
                    await core.Sandboxes.DeleteAsync(principal, entry.Id);
                }
                catch (SandboxException)
                {
                    // Already gone: disposing Core below removes whatever is left.
                }
            }
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
