using System.Security.Cryptography;
using System.Text;

namespace Sandbox.Isolation.Images;

/// <summary>OCI's chain id: the id of a stack of layers, ChainID(L0) = DiffID(L0), ChainID(Ln) =
/// sha256(ChainID(Ln-1) + " " + DiffID(Ln)). Two images with the same layers share one unpacked root.</summary>
internal static class ChainId
{
    public static ImageDigest Of(IReadOnlyList<ImageDigest> diffIds)
    {
        if (diffIds.Count == 0)
            return ImageDigest.Of([]);
        var chain = diffIds[0];
        for (var i = 1; i < diffIds.Count; i++)
            chain = ImageDigest.FromHash(SHA256.HashData(Encoding.ASCII.GetBytes($"{chain} {diffIds[i]}")));
        return chain;
    }
}
