using Sandbox.Core;
using Sandbox.Isolation;
using Sandbox.Policy;

namespace Sandbox.CiRunner.Execution;

/// <summary>Where job sandboxes come from: Core in this process (<see cref="CoreJobHost"/>, <c>--local</c>) or
/// sandboxd (the CLI's client). The runner asks through Core's request type, so the sandbox policy decides the same
/// way on both paths.</summary>
public interface IJobSandboxHost
{
    /// <summary>The sandbox policy's decision for a request, creating nothing (for <c>sandbox ci plan</c>).</summary>
    Task<PolicyDecision> ExplainAsync(SandboxRequest request, CancellationToken cancellationToken);

    Task<IJobSandbox> CreateAsync(SandboxRequest request, CancellationToken cancellationToken);
}

/// <summary>One job's long-lived sandbox. Dispose deletes it (idempotent; never throws for a sandbox already gone).</summary>
public interface IJobSandbox : IAsyncDisposable
{
    string Id { get; }

    /// <summary>"container" or "microvm", with the accelerator for a microVM ("microvm (tcg)").</summary>
    string TierDescription { get; }

    /// <summary>Runs a process to its end; cancelling <paramref name="cancellationToken"/> kills it (and the call
    /// still returns its status).</summary>
    Task<ExitStatus> RunAsync(ProcessSpec process, Stream stdout, Stream stderr, CancellationToken cancellationToken);

    Task<byte[]> ReadFileAsync(string path, long maxBytes, CancellationToken cancellationToken);

    /// <summary>Copies a file to a host stream (streamed); ResourceExhausted past <paramref name="maxBytes"/>.</summary>
    Task<long> ReadFileToAsync(string path, Stream destination, long maxBytes, CancellationToken cancellationToken);

    Task<SandboxFileListing> ListFilesAsync(string path, int maxEntries, CancellationToken cancellationToken);

    /// <summary>Unpacks a tar stream into a directory (streamed: a chunk at a time).</summary>
    Task ImportTarAsync(string directory, Stream tar, CancellationToken cancellationToken);

    /// <summary>Writes a directory as a tar stream (streamed).</summary>
    Task ExportTarAsync(string directory, Stream tar, CancellationToken cancellationToken);
}
