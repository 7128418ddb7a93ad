using Sandbox.Core;
using Sandbox.Isolation;

namespace Sandbox.CiRunner.Execution;

/// <summary>Where job sandboxes come from: Core in this process (<see cref="CoreJobHost"/>, <c>--local</c>) or
/// sandboxd (the CLI's client). The runner asks through Core's request type, so the sandbox policy decides the same
/// way on both paths.</summary>
public interface IJobSandboxHost
{
    /// <summary>The sandbox policy's decision for a request, creating nothing (for <c>sandbox ci plan</c>).</summary>
    Task<SandboxDecisionSummary> ExplainAsync(SandboxRequest request, CancellationToken cancellationToken);

    /// <summary>A sandbox for the request; one that names <see cref="SandboxRequest.NetworkOf"/> joins that sandbox's
    /// network (a job's service), with the checks Core makes on both paths.</summary>
    Task<IJobSandbox> CreateAsync(SandboxRequest request, CancellationToken cancellationToken);
}

/// <summary>One job's long-lived sandbox. Dispose deletes it (idempotent; never throws for a sandbox already gone).</summary>
public interface IJobSandbox : IAsyncDisposable
{
    string Id { get; }

    /// <summary>"container" or "microvm", with the accelerator for a microVM ("microvm (tcg)").</summary>
    string TierDescription { get; }

    /// <summary>The network the sandbox really got: one line per egress destination ("ENTRY -> ADDRESS:PORT" for a
    /// name pinned to its addresses) and published port; empty for none.</summary>
    IReadOnlyList<string> NetworkGranted { get; }

    /// <summary>Runs a process to its end; cancelling <paramref name="cancellationToken"/> kills it (and the call
    /// still returns its status). An empty argv runs the sandbox's image's Entrypoint + Cmd (a service's server).</summary>
    Task<ExitStatus> RunAsync(ProcessSpec process, Stream stdout, Stream stderr, CancellationToken cancellationToken);

    Task<byte[]> ReadFileAsync(string path, long maxBytes, CancellationToken cancellationToken);

    /// <summary>Copies a file to a host stream (streamed); ResourceExhausted past <paramref name="maxBytes"/>.</summary>
    Task<long> ReadFileToAsync(string path, Stream destination, long maxBytes, CancellationToken cancellationToken);

    /// <summary>What is at a path (symlinks reported, never followed); null when nothing is.</summary>
    Task<SandboxFileEntry?> StatAsync(string path, CancellationToken cancellationToken);

    /// <summary>Unpacks a tar stream into a directory (streamed: a chunk at a time).</summary>
    Task ImportTarAsync(string directory, Stream tar, CancellationToken cancellationToken);

    /// <summary>Writes a directory as a tar stream (streamed).</summary>
    Task ExportTarAsync(string directory, Stream tar, CancellationToken cancellationToken);
}

/// <summary>The sandbox policy's answer for a job's request, as <c>sandbox ci plan</c> shows it (the same from Core and
/// from sandboxd).</summary>
public sealed record SandboxDecisionSummary(bool Allow, string Tier, string Network, IReadOnlyList<string> Egress, long MemoryMiB, double Vcpus,
    int Pids, long TimeoutSeconds, string SyscallProfile, IReadOnlyList<string> Reasons);
