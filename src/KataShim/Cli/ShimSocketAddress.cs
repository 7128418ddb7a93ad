using System.Text;
using Org.BouncyCastle.Crypto.Digests;

namespace Sandbox.KataShim.Cli;

/// <summary>Where a shim daemon listens: /run/containerd/s/sha256(address/namespace/group), as containerd's own
/// shims do (the directory is containerd's default state dir, fixed whatever containerd's configured state is), so
/// the containers of one group (a CRI pod) find the same daemon.</summary>
internal static class ShimSocketAddress
{
    public const string SocketDirectory = "/run/containerd/s";

    public static string For(string containerdAddress, string ns, string groupId)
    {
        var joined = $"{containerdAddress.TrimEnd('/')}/{ns}/{groupId}";
        // SHA-256 in managed code: `start` would otherwise load OpenSSL (time on every container's start) for this one hash.
        var sha = new Sha256Digest();
        sha.BlockUpdate(Encoding.UTF8.GetBytes(joined));
        var digest = new byte[sha.GetDigestSize()];
        sha.DoFinal(digest);
        return $"{SocketDirectory}/{Convert.ToHexStringLower(digest)}";
    }

    /// <summary>The group a container belongs to, first match wins (as runc's shim groups): the annotation
    /// <c>io.sandbox.shim-group</c> (containers that opt into one daemon: its memory is shared, and so is its fate),
    /// its CRI pod (the sandbox container and its app containers share one daemon, like Kata), else its own id.</summary>
    public static string GroupId(string id, IReadOnlyDictionary<string, string> annotations) =>
        annotations.TryGetValue(Oci.ShimAnnotations.ShimGroup, out var group) && group.Length > 0 ? group
        : annotations.TryGetValue(Oci.ShimAnnotations.CriSandboxId, out var pod) && pod.Length > 0 ? pod
        : id;
}
