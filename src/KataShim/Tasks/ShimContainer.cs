using System.Collections.Concurrent;
using Sandbox.Isolation;
using ContainerdMount = Sandbox.KataShim.Protocol.Types.Mount;

namespace Sandbox.KataShim.Tasks;

/// <summary>One containerd task: the Core sandbox that runs it, its init process and its execs, and the snapshot
/// mounts the shim made for it (unmounted on Delete).</summary>
internal sealed class ShimContainer(string id, string bundle, SandboxId sandboxId, SandboxTier tier, ShimProcess init,
    string? mountedRootfs, IReadOnlyList<ContainerdMount> rootfs)
{
    public string Id => id;
    public string Bundle => bundle;
    public SandboxId SandboxId => sandboxId;
    public SandboxTier Tier => tier;
    public ShimProcess Init => init;
    /// <summary>Where the shim mounted the snapshot (null for `--rootfs DIR`, used as is).</summary>
    public string? MountedRootfs => mountedRootfs;
    public IReadOnlyList<ContainerdMount> Rootfs => rootfs;
    /// <summary>The orchestrator's network namespace the container joined (a CRI pod's, CNI's), if any: the pod's app
    /// containers join the same.</summary>
    public string? NetworkNamespace { get; init; }
    public ConcurrentDictionary<string, ShimProcess> Execs { get; } = new(StringComparer.Ordinal);
    /// <summary>Serialises the container's state-changing verbs (start, kill, delete, pause).</summary>
    public SemaphoreSlim Gate { get; } = new(1, 1);
    /// <summary>Held by a Kill while its signal is on its way: the init's exit is published only after such a Kill has
    /// answered. Otherwise containerd may act on the exit (delete the task: the sandbox, the microVM's agent connection
    /// the signal travels on) before the Kill's reply, and the Kill fails with the connection closed under it.</summary>
    public SemaphoreSlim Signalling { get; } = new(1, 1);
    /// <summary>Cancelled when the task is deleted: ends what still runs for it.</summary>
    public CancellationTokenSource Lifetime { get; } = new();

    public ShimProcess Process(string execId) =>
        execId.Length == 0 ? init
        : Execs.TryGetValue(execId, out var p) ? p
        : throw Mapping.ErrorMapping.NotFound($"exec {execId} of container {id} does not exist");
}
