using Sandbox.Isolation;
using Sandbox.SandboxApi.Auth;

namespace Sandbox.SandboxApi.Orchestration;

public sealed partial class SandboxService
{
    /// <summary>A process started in a long-lived sandbox. <see cref="Completion"/> ends with its exit status; when the
    /// token given to <see cref="ExecAsync"/> is cancelled first, the process is SIGKILLed (and Completion still ends).</summary>
    public sealed class RunningProcess(ISandboxProcess process, Task<ExitStatus> completion)
    {
        public int Pid => process.Pid;

        public Task<ExitStatus> Completion => completion;

        public Task SignalAsync(int signal, CancellationToken cancellationToken)
        {
            if (signal is < 1 or > 64)
                throw new SandboxException(SandboxErrorCode.InvalidArgument, $"signal {signal} is out of range [1, 64]");
            return process.SignalAsync(signal, cancellationToken);
        }
    }

    public async Task<RunningProcess> ExecAsync(Principal principal, SandboxId id, ProcessSpec spec, ProcessIO io, CancellationToken cancellationToken)
    {
        var sandbox = Running(principal, id);
        var process = await sandbox.ExecAsync(ClampTimeout(spec, sandbox.Info.Limits), io, cancellationToken).ConfigureAwait(false);
        return new RunningProcess(process, SuperviseAsync(process, cancellationToken));
    }

    private async Task<ExitStatus> SuperviseAsync(ISandboxProcess process, CancellationToken cancellationToken)
    {
        await using (cancellationToken.Register(() => _ = KillQuietlyAsync(process)))
        {
            var status = await process.WaitAsync(CancellationToken.None).ConfigureAwait(false);
            metrics.ProcessCompleted("exec", status.Duration, status.OomKilled, status.TimedOut);
            return status;
        }
    }

    private static async Task KillQuietlyAsync(ISandboxProcess process)
    {
        try
        {
            await process.SignalAsync(9, CancellationToken.None).ConfigureAwait(false);
        }
        catch (SandboxException)
        {
            // Already gone (exited, or the sandbox was deleted): nothing left to kill.
        }
    }

    public Task<byte[]> ReadFileAsync(Principal principal, SandboxId id, string path, long maxBytes, CancellationToken cancellationToken) =>
        Running(principal, id).ReadFileAsync(path, maxBytes, cancellationToken);

    public Task WriteFileAsync(Principal principal, SandboxId id, string path, ReadOnlyMemory<byte> content, int mode, CancellationToken cancellationToken) =>
        Running(principal, id).WriteFileAsync(path, content, mode, cancellationToken);

    public Task<SandboxFileListing> ListFilesAsync(Principal principal, SandboxId id, string path, int maxEntries, CancellationToken cancellationToken) =>
        Running(principal, id).ListFilesAsync(path, maxEntries, cancellationToken);

    private ISandbox Running(Principal principal, SandboxId id)
    {
        var entry = registry.Get(principal.Tenant, id);
        return entry.CanExec ? entry.Sandbox! : throw new SandboxException(SandboxErrorCode.FailedPrecondition,
            $"sandbox {id} is {entry.State.ToString().ToLowerInvariant()}, not running");
    }
}
