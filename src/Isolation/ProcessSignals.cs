using System.Threading.Channels;

namespace Sandbox.Isolation;

/// <summary>Signals for a process its caller holds no handle to: a one-shot run (<see cref="ISandboxDriver.RunAsync"/>),
/// whose process is started and ended inside one call. The caller sends (a CLI forwarding its Ctrl-C); the driver
/// running the process delivers each to that process, as <see cref="ISandboxProcess.SignalAsync"/> would, in order. A
/// signal sent before the process started waits for it; one sent after it ended goes nowhere. At most
/// <see cref="Capacity"/> wait undelivered; more are dropped, as the kernel merges a pending signal sent again.</summary>
public sealed class ProcessSignals
{
    public const int Capacity = 16;

    private readonly Channel<int> _pending = Channel.CreateBounded<int>(
        new BoundedChannelOptions(Capacity) { FullMode = BoundedChannelFullMode.DropWrite, SingleReader = true });

    /// <summary>Queues <paramref name="signal"/> for the process; InvalidArgument unless it is 1..64.</summary>
    public void Send(int signal)
    {
        SignalNumbers.Check(signal);
        _pending.Writer.TryWrite(signal);
    }

    /// <summary>Delivers every signal sent, now and later, through <paramref name="deliver"/> until
    /// <paramref name="cancellationToken"/> ends (the process has exited). A delivery that fails ends nothing: the
    /// process may have exited meanwhile.</summary>
    internal async Task DeliverAsync(Func<int, CancellationToken, Task> deliver, CancellationToken cancellationToken)
    {
        try
        {
            while (await _pending.Reader.WaitToReadAsync(cancellationToken).ConfigureAwait(false))
            {
                while (_pending.Reader.TryRead(out var signal))
                {
                    try
                    {
                        await deliver(signal, cancellationToken).ConfigureAwait(false);
                    }
                    catch (SandboxException)
                    {
                        // The process (or its sandbox) is gone: the run is ending anyway.
                    }
                }
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
    }
}
