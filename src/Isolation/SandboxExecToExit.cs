namespace Sandbox.Isolation;

/// <summary>A one-shot run inside a sandbox that is already up (a microVM's one-shot, a pooled sandbox's run): exec the
/// process, deliver the caller's signals (a CLI's Ctrl-C) to it while it runs, and wait for its exit.</summary>
public static class SandboxExecToExit
{
    public static async Task<ExitStatus> ExecToExitAsync(this ISandbox sandbox, ProcessSpec process, ProcessIO io, CancellationToken cancellationToken)
    {
        var running = await sandbox.ExecAsync(process, io, cancellationToken).ConfigureAwait(false);
        using var exited = new CancellationTokenSource();
        var signals = io.Signals?.DeliverAsync(running.SignalAsync, exited.Token) ?? Task.CompletedTask;
        try
        {
            return await running.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            await exited.CancelAsync().ConfigureAwait(false);
            await signals.ConfigureAwait(false);
        }
    }
}
