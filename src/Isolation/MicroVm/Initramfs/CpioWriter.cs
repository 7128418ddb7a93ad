using System.Text;

namespace Sandbox.Isolation.MicroVm.Initramfs;

/// <summary>Writes a cpio archive in the "newc" format the kernel unpacks as an initramfs: per entry a 110-byte ASCII
/// header (magic 070701 and 13 eight-digit hex fields), the NUL-terminated name padded to 4 bytes, the data padded to
/// 4 bytes; a TRAILER!!! entry ends it. Entries are written in the order given: parents before children.</summary>
public sealed class CpioWriter(Stream output)
{
    public const int S_IFDIR = 0x4000, S_IFREG = 0x8000, S_IFLNK = 0xA000, S_IFCHR = 0x2000;
    public const string Trailer = "TRAILER!!!";

    private int _inode = 1;
    private bool _finished;

    public void AddDirectory(string name, int mode = 0x1ED /* 0755 */) =>
        Write(name, S_IFDIR | (mode & 0xFFF), 2, ReadOnlySpan<byte>.Empty, 0, 0);

    public void AddFile(string name, ReadOnlySpan<byte> data, int mode = 0x1A4 /* 0644 */) =>
        Write(name, S_IFREG | (mode & 0xFFF), 1, data, 0, 0);

    public void AddSymlink(string name, string target) =>
        Write(name, S_IFLNK | 0x1FF, 1, Encoding.UTF8.GetBytes(target), 0, 0);

    public void AddCharDevice(string name, int major, int minor, int mode = 0x180 /* 0600 */) =>
        Write(name, S_IFCHR | (mode & 0xFFF), 1, ReadOnlySpan<byte>.Empty, major, minor);

    public void Finish()
    {
        if (_finished) return;
        Write(Trailer, 0, 1, ReadOnlySpan<byte>.Empty, 0, 0, isTrailer: true);
        _finished = true;
    }

    private void Write(string name, int mode, int nlink, ReadOnlySpan<byte> data, int rdevMajor, int rdevMinor, bool isTrailer = false)
    {
        if (_finished) throw new InvalidOperationException("the archive is finished");
        ValidateName(name, isTrailer);
        var nameBytes = Encoding.UTF8.GetBytes(name);
        var header = new StringBuilder(110);
        header.Append("070701");
        foreach (var field in new long[]
                 {
                     isTrailer ? 0 : _inode++, mode, 0, 0, nlink, 0, data.Length, 0, 0, rdevMajor, rdevMinor,
                     nameBytes.Length + 1, 0,
                 })
            header.Append(field.ToString("X8"));
        output.Write(Encoding.ASCII.GetBytes(header.ToString()));
        output.Write(nameBytes);
        output.WriteByte(0);
        Pad(110 + nameBytes.Length + 1);
        output.Write(data);
        Pad(data.Length);
    }

    private static void ValidateName(string name, bool isTrailer)
    {
        if (isTrailer) return;
        if (name.Length == 0 || name.StartsWith('/') || name.Contains('\0') || name == Trailer || name.Split('/').Any(p => p is "" or "." or ".."))
            throw new ArgumentException($"cpio entry name '{name}' must be a relative path without empty, '.' or '..' parts", nameof(name));
    }

    private void Pad(long length)
    {
        var pad = (int)((4 - length % 4) % 4);
        for (var i = 0; i < pad; i++) output.WriteByte(0);
    }
}
