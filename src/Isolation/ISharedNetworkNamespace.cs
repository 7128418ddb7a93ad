using System.Runtime.InteropServices;

namespace Sandbox.Isolation;

/// <summary>A sandbox whose network namespace another sandbox may join (<see cref="SandboxSpec.NetworkOf"/>): a pod of
/// sandboxes that share loopback and nothing else (each keeps its own root, processes, ids and cgroup). The container
/// tier offers it; a microVM's network is its own virtual machine's.</summary>
public interface ISharedNetworkNamespace
{
    /// <summary>A descriptor of the namespace, held by the caller until the joining sandbox is up (the namespace lives
    /// as long as any process of either sandbox is in it). FailedPrecondition when the sandbox is gone.</summary>
    SafeHandle OpenNetworkNamespace();
}
