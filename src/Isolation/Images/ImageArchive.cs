using System.Formats.Tar;

namespace Sandbox.Isolation.Images;

/// <summary>Tells an image archive (an OCI layout or `docker save` output as a tarball) from a plain root file
/// system tarball by its top-level names, and unpacks an archive (with the layer rules: nothing outside, no links
/// out, bounded) so the directory sources can read it.</summary>
internal static class ImageArchive
{
    public enum Kind { RootfsTarball, OciArchive, DockerArchive }

    public static Kind Classify(string file, ImageLimits limits)
    {
        using var stream = File.OpenRead(file);
        using var tar = new BoundedStream(LayerCompression.OpenTar(stream, $"tarball {file}"), limits.MaxUnpackedBytes,
            l => $"tarball {file} decompresses to more than {l} bytes");
        try
        {
            using var reader = new TarReader(tar);
            var seen = 0;
            var dockerManifest = false;
            while (reader.GetNextEntry(copyData: false) is { } entry && ++seen <= limits.MaxEntries)
            {
                var name = entry.Name.StartsWith("./", StringComparison.Ordinal) ? entry.Name[2..] : entry.Name;
                if (name == "oci-layout")
                    return Kind.OciArchive;
                dockerManifest |= name == "manifest.json";
            }
            return dockerManifest ? Kind.DockerArchive : Kind.RootfsTarball;
        }
        catch (Exception e) when (e is InvalidDataException or FormatException or EndOfStreamException)
        {
            throw new SandboxException(SandboxErrorCode.InvalidArgument, $"{file} is not a tar archive (plain, gzip or zstd): {e.Message}", e);
        }
    }

    public static async Task ExtractAsync(string file, string directory, ImageLimits limits, CancellationToken cancellationToken)
    {
        await using var stream = File.OpenRead(file);
        await new LayerApplier(directory, limits).ApplyAsync(stream, $"archive {file}", cancellationToken).ConfigureAwait(false);
    }
}
