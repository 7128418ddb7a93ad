using Sandbox.Core;
using Sandbox.Isolation;

namespace Sandbox.CiRunner.Execution;

/// <summary>Job sandboxes from Core in this process (<c>sandbox ci run --local</c>): the same policy, drivers and
/// lifecycle as sandboxd, for the given principal.</summary>
public sealed class CoreJobHost(SandboxCore core, Principal principal) : IJobSandboxHost
{
    public async Task<SandboxDecisionSummary> ExplainAsync(SandboxRequest request, CancellationToken cancellationToken)
    {
        var d = await core.Sandboxes.ExplainAsync(principal, request, cancellationToken).ConfigureAwait(false);
        return new SandboxDecisionSummary(d.Allow, d.Isolation, d.Network.Mode, d.Network.Egress, d.Resources.MemoryMiB, d.Resources.Vcpus,
            d.Resources.Pids, d.Resources.TimeoutSeconds, d.SyscallProfile.Name, d.Reasons);
    }

    public async Task<IJobSandbox> CreateAsync(SandboxRequest request, CancellationToken cancellationToken)
    {
        var entry = await core.Sandboxes.CreateAsync(principal, request, cancellationToken).ConfigureAwait(false);
        return new CoreJobSandbox(core, principal, entry);
    }

    private sealed class CoreJobSandbox(SandboxCore core, Principal principal, SandboxEntry entry) : IJobSandbox
    {
        private int _disposed;

        public string Id => entry.Id.Value;

        public string TierDescription => entry.Tier == SandboxTier.MicroVm
            ? $"microvm ({(entry.Info?.Accelerator == Accelerator.Kvm ? "kvm" : "tcg")})"
            : "container";

        public IReadOnlyList<string> NetworkGranted => entry.Info?.Egress ?? [];

        public async Task<ExitStatus> RunAsync(ProcessSpec process, Stream stdout, Stream stderr, CancellationToken cancellationToken)
        {
            var running = await core.Sandboxes.ExecAsync(principal, entry.Id, process, new ProcessIO { Stdout = stdout, Stderr = stderr }, cancellationToken)
                .ConfigureAwait(false);
            return await running.Completion.ConfigureAwait(false);
        }

        public Task<byte[]> ReadFileAsync(string path, long maxBytes, CancellationToken cancellationToken) =>
            core.Sandboxes.ReadFileAsync(principal, entry.Id, path, maxBytes, cancellationToken);

        public Task<long> ReadFileToAsync(string path, Stream destination, long maxBytes, CancellationToken cancellationToken) =>
            core.Sandboxes.ReadFileToAsync(principal, entry.Id, path, destination, maxBytes, cancellationToken);

        public async Task<SandboxFileEntry?> StatAsync(string path, CancellationToken cancellationToken)
        {
            try
            {
                return await core.Sandboxes.StatAsync(principal, entry.Id, path, cancellationToken).ConfigureAwait(false);
            }
            catch (SandboxException e) when (e.Code == SandboxErrorCode.NotFound)
            {
                return null;
            }
        }

        public Task ImportTarAsync(string directory, Stream tar, CancellationToken cancellationToken) =>
            core.Sandboxes.ImportDirectoryAsync(principal, entry.Id, directory, tar, cancellationToken);

        public Task ExportTarAsync(string directory, Stream tar, CancellationToken cancellationToken) =>
            core.Sandboxes.ExportDirectoryAsync(principal, entry.Id, directory, tar, cancellationToken);

        public async ValueTask DisposeAsync()
        {
            if (Interlocked.Exchange(ref _disposed, 1) != 0)
                return;
            try
            {
                await core.Sandboxes.DeleteAsync(principal, entry.Id).ConfigureAwait(false);
            }
            catch (SandboxException e) when (e.Code == SandboxErrorCode.NotFound)
            {
                // Already gone (it died, or the owner removed every sandbox on Ctrl-C).
            }
        }
    }
}
