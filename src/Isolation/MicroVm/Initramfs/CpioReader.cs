using System.Globalization;
using System.Text;

namespace Sandbox.Isolation.MicroVm.Initramfs;

/// <summary>One entry of a newc cpio archive.</summary>
public sealed record CpioEntry(string Name, int Mode, int RdevMajor, int RdevMinor, byte[] Data);

/// <summary>Reads newc cpio archives (what <see cref="CpioWriter"/> writes), with bounded sizes: for tests and for
/// checking a cached initramfs.</summary>
public static class CpioReader
{
    private const int MaxNameBytes = 4096;

    public static IReadOnlyList<CpioEntry> Read(ReadOnlySpan<byte> archive)
    {
        var entries = new List<CpioEntry>();
        var offset = 0;
        while (true)
        {
            if (archive.Length - offset < 110) throw new InvalidDataException($"cpio: truncated header at offset {offset}");
            var header = Encoding.ASCII.GetString(archive.Slice(offset, 110));
            if (!header.StartsWith("070701", StringComparison.Ordinal)) throw new InvalidDataException($"cpio: bad magic at offset {offset}");
            long Field(int i) => long.TryParse(header.AsSpan(6 + i * 8, 8), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var v)
                ? v : throw new InvalidDataException($"cpio: field {i} of the header at offset {offset} is not hex");
            var mode = (int)Field(1);
            var size = Field(6);
            var nameSize = (int)Field(11);
            if (nameSize is < 1 or > MaxNameBytes) throw new InvalidDataException($"cpio: name size {nameSize} at offset {offset}");
            offset += 110;
            if (archive.Length - offset < nameSize) throw new InvalidDataException("cpio: truncated name");
            var name = Encoding.UTF8.GetString(archive.Slice(offset, nameSize - 1));
            offset = Align(offset + nameSize);
            if (name == CpioWriter.Trailer) return entries;
            if (size < 0 || size > archive.Length - offset) throw new InvalidDataException($"cpio: entry '{name}' size {size} past the end");
            entries.Add(new CpioEntry(name, mode, (int)Field(9), (int)Field(10), archive.Slice(offset, (int)size).ToArray()));
            offset = Align(offset + (int)size);
        }
    }

    private static int Align(int n) => (n + 3) & ~3;
}
