using Sandbox.SandboxApi.Configuration;
using Sandbox.SandboxApi.Hosting;

namespace Sandbox.SandboxApi.Tests;

/// <summary>images.store_dir: where `image` in CreateSandboxRequest is resolved (docs/sandboxd.md).</summary>
public sealed class ImageStoreConfigTests
{
    [Fact]
    public void The_store_dir_reaches_cores_options()
    {
        var config = ConfigLoader.Parse("images:\n  store_dir: /srv/sandbox-images\n");
        Assert.Equal("/srv/sandbox-images", config.ToCoreOptions().Images.Root);
        Assert.Equal("/var/cache/sandbox/images", ConfigLoader.Parse("state_dir: /var/lib/sandboxd\n").ToCoreOptions().Images.Root);
    }

    [Fact]
    public void Microvm_guest_address_randomization_is_on_unless_turned_off()
    {
        Assert.True(ConfigLoader.Parse("state_dir: /var/lib/sandboxd\n").MicroVm.GuestAddressRandomization);
        Assert.False(ConfigLoader.Parse("microvm:\n  guest_address_randomization: false\n").MicroVm.GuestAddressRandomization);
        var e = Assert.Throws<ConfigException>(() => ConfigLoader.Parse("microvm:\n  aslr: false\n"));
        Assert.Contains("aslr", e.Message);
    }

    [Fact]
    public void Microvm_qemu_is_the_systems_unless_another_root_owned_one_is_named()
    {
        Assert.Equal("/usr/bin/qemu-system-x86_64", ConfigLoader.Parse("state_dir: /var/lib/sandboxd\n").MicroVm.Qemu);
        var e = Assert.Throws<ConfigException>(() => ConfigLoader.Parse("microvm:\n  qemu: qemu-system-x86_64\n"));
        Assert.Contains("microvm.qemu: 'qemu-system-x86_64' must be an absolute path", e.Message);
        e = Assert.Throws<ConfigException>(() => ConfigLoader.Parse("microvm:\n  qemu: /nonexistent/usr/bin/qemu-system-x86_64\n"));
        Assert.Contains("microvm.qemu: '/nonexistent/usr/bin/qemu-system-x86_64' does not exist", e.Message);
        // One in a prefix of its own (as scripts/install-qemu-backports.sh unpacks it): accepted only when only root
        // can replace it (the tier starts it from a jail built as root). The test process is root.
        var dir = Directory.CreateTempSubdirectory("sandbox-qemu-config-").FullName;
        try
        {
            var bin = Path.Combine(dir, "usr", "bin");
            Directory.CreateDirectory(bin);
            var qemu = Path.Combine(bin, "qemu-system-x86_64");
            File.WriteAllText(qemu, "");
            File.SetUnixFileMode(bin, (UnixFileMode)0b111_111_111);
            e = Assert.Throws<ConfigException>(() => ConfigLoader.Parse($"microvm:\n  qemu: {qemu}\n"));
            Assert.Contains("microvm.qemu:", e.Message);
            Assert.Contains("writable by no one else", e.Message);
            File.SetUnixFileMode(bin, (UnixFileMode)0b111_101_101);
            Assert.Equal(qemu, ConfigLoader.Parse($"microvm:\n  qemu: {qemu}\n").MicroVm.Qemu);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void A_relative_store_dir_or_an_unknown_key_is_refused_naming_it()
    {
        var e = Assert.Throws<ConfigException>(() => ConfigLoader.Parse("images:\n  store_dir: images\n"));
        Assert.Contains("images.store_dir: 'images' must be an absolute path", e.Message);
        e = Assert.Throws<ConfigException>(() => ConfigLoader.Parse("images:\n  store: /srv/x\n"));
        Assert.Contains("store", e.Message);
    }
}
