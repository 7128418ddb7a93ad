using Sandbox.Isolation.MicroVm.Initramfs;

namespace Sandbox.Fuzz.Tests;

/// <summary>The newc cpio reader (initramfs images, read back when a cached image is checked): InvalidDataException
/// for anything that is not a well-formed archive.</summary>
[Collection("fuzz")]
public sealed class CpioFuzzTests
{
    private static byte[] Sample()
    {
        using var buffer = new MemoryStream();
        var writer = new CpioWriter(buffer);
        writer.AddDirectory("etc");
        writer.AddFile("etc/hostname", "sandbox\n"u8);
        writer.AddFile("init", new byte[300], 0x1ed);
        writer.Finish();
        return buffer.ToArray();
    }

    [Fact]
    public void NewcArchives() =>
        FuzzHarness.RunBytes("cpio", Mutations.Of([Sample()]), bytes => CpioReader.Read(bytes), [typeof(InvalidDataException)]);
}
