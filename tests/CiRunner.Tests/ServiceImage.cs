using System.Formats.Tar;
using System.Security.Cryptography;
using Sandbox.Isolation.Images;

namespace Sandbox.CiRunner.Tests;

/// <summary>A tiny service image made here without a registry: the host's busybox-static with httpd serving
/// /www/index.html, whose text comes from the service's env ($GREETING). Imported once into the image store as a
/// rootfs tarball (`sandbox image import`'s path), named by the busybox binary's digest so a new busybox makes a new
/// image and an unchanged one is reused.</summary>
internal static class ServiceImage
{
    public const string Busybox = "/bin/busybox";

    private static readonly string[] Applets = ["sh", "httpd", "wget", "test", "echo"];

    public static async Task<string> EnsureAsync()
    {
        var digest = Convert.ToHexStringLower(SHA256.HashData(await File.ReadAllBytesAsync(Busybox)))[..12];
        var name = $"ci-test-httpd:{digest}";
        var store = new ImageStore(new ImageStoreOptions());
        if (store.Find(name) is not null)
            return name;
        var tarball = Path.Combine(Path.GetTempPath(), $"ci-test-httpd-{Guid.NewGuid():N}.tar");
        try
        {
            await using (var file = File.Create(tarball))
            await using (var tar = new TarWriter(file, TarEntryFormat.Pax))
            {
                foreach (var dir in new[] { "bin/", "etc/", "www/" })
                    await tar.WriteEntryAsync(new PaxTarEntry(TarEntryType.Directory, dir) { Mode = (UnixFileMode)0b111_101_101 });
                await tar.WriteEntryAsync(Busybox, "bin/busybox");
                foreach (var applet in Applets)
                    await tar.WriteEntryAsync(new PaxTarEntry(TarEntryType.SymbolicLink, "bin/" + applet) { LinkName = "busybox" });
            }
            await store.ImportAsync(tarball, name, null, CancellationToken.None, new ImageDefaults
            {
                Env = ["PATH=/bin"],
                Cmd = ["/bin/sh", "-c", "echo \"$GREETING from the service\" > /www/index.html && exec httpd -f -p 80 -h /www"],
            });
        }
        finally
        {
            File.Delete(tarball);
        }
        return name;
    }
}
