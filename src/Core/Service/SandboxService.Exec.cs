using Sandbox.Isolation;

namespace Sandbox.Core;

public sealed partial class SandboxService
{
    /// <summary>A process started in a long-lived sandbox. <see cref="Completion"/> ends with its exit status; when the
    /// token given to <see cref="ExecAsync"/> is cancelled first, the process is SIGKILLed (and Completion still ends).</summary>
    public sealed class RunningProcess(ISandboxProcess process, Task<ExitStatus> completion)
    {
        public int Pid => process.Pid;

        public Task<ExitStatus> Completion => completion;

        /// <summary>Sets the window size of its terminal; FailedPrecondition when it runs without one.</summary>
        public Task ResizeAsync(TerminalSize size, CancellationToken cancellationToken) => process.ResizeAsync(size, cancellationToken);

        public Task SignalAsync(int signal, CancellationToken cancellationToken)
        {
            if (signal is < 1 or > 64)
                throw new SandboxException(SandboxErrorCode.InvalidArgument, $"signal {signal} is out of range [1, 64]");
            return process.SignalAsync(signal, cancellationToken);
        }
    }

    public async Task<RunningProcess> ExecAsync(Principal principal, SandboxId id, ProcessSpec spec, ProcessIO io, CancellationToken cancellationToken)
    {
        var entry = registry.Get(principal.Tenant, id);
        var sandbox = entry.Require(SandboxLifecycle.CanExec, "exec in");
        // No command: the image's own (Entrypoint + Cmd, WorkingDir), as an engine starts a container (a CI service).
        if (spec.Argv.Count == 0)
            spec = entry.ImageDefaults is { } image ? DecisionTranslator.ApplyImageDefaults(spec, image)
                : throw new SandboxException(SandboxErrorCode.InvalidArgument, $"no command given, and sandbox {id} was not made from an image whose Entrypoint or Cmd would run");
        // An exec that asks for no timeout of its own (a shell, a server) runs until the sandbox expires: the TTL bounds it,
        // not the per-process default, which would kill every long-lived exec after a few minutes. One that asks is
        // clamped to what the policy granted.
        var bounded = spec.Timeout is null && entry.ExpiresAt is { } expires
            ? spec with { Timeout = TimeSpan.FromSeconds(Math.Max(1, Math.Ceiling((expires - time.GetUtcNow()).TotalSeconds))) }
            : DecisionTranslator.ClampTimeout(spec, sandbox.Info.Limits);
        var process = await sandbox.ExecAsync(bounded, io, cancellationToken).ConfigureAwait(false);
        var running = new RunningProcess(process, SuperviseAsync(entry, process, cancellationToken));
        entry.Execs.Track(new ExecRecord(process.Pid, spec.Argv, spec.Tty is not null, time.GetUtcNow(), running));
        return running;
    }

    private async Task<ExitStatus> SuperviseAsync(SandboxEntry entry, ISandboxProcess process, CancellationToken cancellationToken)
    {
        await using (cancellationToken.Register(() => _ = KillQuietlyAsync(process)))
        {
            var status = await process.WaitAsync(CancellationToken.None).ConfigureAwait(false);
            metrics.ProcessCompleted("exec", status.Duration, status.OomKilled, status.TimedOut);
            if (status.OomKilled)
                await PublishAsync(SandboxEventKind.Oom, entry, status).ConfigureAwait(false);
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
        Live(principal, id, "read files of").ReadFileAsync(path, maxBytes, cancellationToken);

    public Task WriteFileAsync(Principal principal, SandboxId id, string path, ReadOnlyMemory<byte> content, int mode, CancellationToken cancellationToken) =>
        Live(principal, id, "write files into").WriteFileAsync(path, content, mode, cancellationToken);

    /// <summary>Streams a file out of the sandbox to <paramref name="destination"/> (one chunk in memory at a time). The
    /// caller and the sandbox are checked before anything is read.</summary>
    public Task<long> ReadFileToAsync(Principal principal, SandboxId id, string path, Stream destination, long maxBytes, CancellationToken cancellationToken) =>
        Live(principal, id, "read files of").ReadFileToAsync(path, destination, maxBytes, cancellationToken);

    /// <summary>Streams <paramref name="source"/> into a file of the sandbox (one chunk in memory at a time). The caller
    /// and the sandbox are checked before <paramref name="source"/> is read at all: an upload to a sandbox that does not
    /// exist, or is another tenant's, fails without its data being read.</summary>
    public Task<long> WriteFileFromAsync(Principal principal, SandboxId id, string path, Stream source, int mode, CancellationToken cancellationToken) =>
        Live(principal, id, "write files into").WriteFileFromAsync(path, source, mode, cancellationToken);

    public Task<SandboxFileListing> ListFilesAsync(Principal principal, SandboxId id, string path, int maxEntries, CancellationToken cancellationToken) =>
        Live(principal, id, "list files of").ListFilesAsync(path, maxEntries, cancellationToken);

    /// <summary>Unpacks a tar stream into a directory of the sandbox (the driver seam's streaming import: one chunk in
    /// host memory at a time).</summary>
    public Task ImportDirectoryAsync(Principal principal, SandboxId id, string path, Stream tarSource, CancellationToken cancellationToken) =>
        Live(principal, id, "import files into").ImportDirectoryAsync(path, tarSource, cancellationToken);

    /// <summary>Writes a directory of the sandbox as a tar stream (streaming, as <see cref="ImportDirectoryAsync"/>).</summary>
    public Task ExportDirectoryAsync(Principal principal, SandboxId id, string path, Stream tarDestination, CancellationToken cancellationToken) =>
        Live(principal, id, "export files of").ExportDirectoryAsync(path, tarDestination, cancellationToken);

    private ISandbox Live(Principal principal, SandboxId id, string verb) =>
        registry.Get(principal.Tenant, id).Require(SandboxLifecycle.CanExec, verb);
}
