using Sandbox.SandboxApi.Configuration;
using Sandbox.SandboxApi.Hosting;

namespace Sandbox.SandboxApi.Tests;

/// <summary>sandboxd's microvm: keys (docs/sandboxd.md): guest address randomization, the QEMU binary, the restored
/// clones' TCG translation buffer; what they allow and that they reach the tier's options.</summary>
public sealed class MicroVmConfigTests
{
    [Fact]
    public void A_clones_translation_cache_and_its_huge_pages_reach_the_tiers_options()
    {
        var options = ConfigLoader.Parse("microvm:\n  clone_translation_cache_mib: 16\n  translation_buffer_huge_pages: false\n")
            .ToMicroVmOptions(agentDirectory: "/opt/agent");
        Assert.Equal(16, options.CloneTcgTranslationCacheMiB);
        Assert.False(options.TranslationBufferHugePages);
        Assert.Equal("/opt/agent", options.AgentDirectory);
        Assert.Equal(64, options.TcgTranslationCacheMiB); // a cold boot's buffer is not the clone's

        var defaults = ConfigLoader.Parse("state_dir: /var/lib/sandboxd\n").ToMicroVmOptions(agentDirectory: null);
        Assert.Equal(new Sandbox.Isolation.MicroVm.MicroVmOptions().CloneTcgTranslationCacheMiB, defaults.CloneTcgTranslationCacheMiB);
        Assert.True(defaults.TranslationBufferHugePages);
        Assert.Equal("/var/lib/sandboxd/vm", defaults.StateDirectory);
        Assert.Equal("sandboxd-vm", defaults.CgroupParent);
    }

    [Fact]
    public void A_clones_translation_cache_out_of_range_is_refused_naming_the_key()
    {
        foreach (var size in new[] { "0", "4096" })
        {
            var e = Assert.Throws<ConfigException>(() => ConfigLoader.Parse($"microvm:\n  clone_translation_cache_mib: {size}\n"));
            Assert.Contains($"microvm.clone_translation_cache_mib: {size} is out of range [1, 2048]", e.Message);
        }
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
    public void Microvm_qemu_is_the_tiers_choice_unless_a_root_owned_one_is_named()
    {
        // Unset: the tier's choice (backports' QEMU 10 where installed, the system's otherwise) reaches its options.
        var unset = ConfigLoader.Parse("state_dir: /var/lib/sandboxd\n");
        Assert.Null(unset.MicroVm.Qemu);
        Assert.Equal(Sandbox.Isolation.MicroVm.QemuInstall.DefaultBinary, unset.ToMicroVmOptions(agentDirectory: null).QemuPath);
        Assert.Equal(new Sandbox.Isolation.MicroVm.MicroVmOptions().QemuPath, unset.ToMicroVmOptions(agentDirectory: null).QemuPath);
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
            Assert.Equal(qemu, ConfigLoader.Parse($"microvm:\n  qemu: {qemu}\n").ToMicroVmOptions(agentDirectory: null).QemuPath);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
