namespace Sandbox.Isolation.MicroVm;

/// <summary>
/// The QEMU the tier runs (<see cref="MicroVmOptions.QemuPath"/>) and what of its installation the VMM jail must hold.
/// The system's QEMU lives under /usr, which the jail binds whole, and finds its firmware and modules at its built-in
/// paths. Another one unpacked into a prefix of its own (scripts/install-qemu-backports.sh: Debian's backported QEMU in
/// /opt/qemu10/usr) is Debian-built with the same built-in paths, /usr/share/qemu and /usr/lib/…/qemu, which hold the
/// system QEMU's firmware and modules: so its prefix is bound into the jail at the same path, its own firmware
/// directory goes first in QEMU's search (-L: the option ROMs of a -kernel boot, pvh.bin) and its own qboot is the
/// machine's firmware (-bios, see <see cref="Bios"/>) and its own module
/// directory replaces the system's (QEMU_MODULE_DIR: a module of another build is refused, loudly).
/// </summary>
public sealed record QemuInstall
{
    /// <summary>The system's QEMU (Debian 12's qemu-system-x86: 7.2).</summary>
    public const string SystemBinary = "/usr/bin/qemu-system-x86_64";

    /// <summary>Where scripts/install-qemu-backports.sh (run by bootstrap) unpacks bookworm-backports' QEMU 10.</summary>
    public const string BackportsBinary = "/opt/qemu10/usr/bin/qemu-system-x86_64";

    /// <summary>The tier's QEMU when none is configured (<see cref="MicroVmOptions.QemuPath"/>, sandboxd microvm.qemu):
    /// the backported QEMU 10 where it is installed (under TCG it halves a microVM exec with guest ASLR on,
    /// docs/microvm-bench.md), the system's otherwise. Present means chosen: a copy that fails the owner check
    /// (<see cref="Locate"/>) makes the tier unavailable with the reason rather than silently run the other QEMU.</summary>
    public static string DefaultBinary => PickDefault(BackportsBinary, SystemBinary);

    /// <summary><paramref name="installed"/> when that file exists, else <paramref name="system"/>.</summary>
    public static string PickDefault(string installed, string system) => File.Exists(installed) ? installed : system;

    /// <summary>The binary as configured (QEMU's argv[0]; part of a snapshot template's key).</summary>
    public required string Binary { get; init; }

    /// <summary>The installation prefix to bind into the jail (the directory above the binary's bin/), or null when
    /// the binary is under /usr (the jail holds /usr already).</summary>
    public string? Prefix { get; init; }

    /// <summary>&lt;prefix&gt;/share/qemu when it exists (given to QEMU as -L); null = QEMU's built-in search.</summary>
    public string? FirmwareDirectory { get; init; }

    /// <summary>The microvm machine's firmware, &lt;prefix&gt;/share/qemu/qboot.rom when it exists (given as -bios): upstream
    /// QEMU's bios-microvm.bin is qboot, which the system QEMU 7.2 also loads (Debian's /usr/share/qemu/bios-microvm.bin
    /// links to its qboot.rom), while Debian's QEMU 10 packages name seabios's microvm build so, in
    /// /usr/share/seabios: without -bios, QEMU 10 would load the system QEMU's qboot, found first on its built-in path.
    /// null = QEMU's built-in choice.</summary>
    public string? Bios { get; init; }

    /// <summary>&lt;prefix&gt;/lib/x86_64-linux-gnu/qemu when it exists (QEMU_MODULE_DIR); null = QEMU's built-in one.</summary>
    public string? ModuleDirectory { get; init; }

    /// <summary>What the jail binds, read-only, for this QEMU.</summary>
    public IEnumerable<JailBind> Binds => Prefix is null ? [] : [new JailBind(Prefix)];

    /// <param name="checkOwner">The binary and every directory above it must be root's and writable by no one else
    /// (<see cref="Agent.RootOwnedProgram"/>, when this process is root): the tier starts it from a jail built as root,
    /// and it holds the guest's memory and devices.</param>
    public static QemuInstall Locate(string binary, bool checkOwner = false)
    {
        if (!Path.IsPathFullyQualified(binary))
            throw new SandboxException(SandboxErrorCode.InvalidArgument, $"the QEMU binary must be an absolute path, not '{binary}'");
        if (checkOwner)
            Agent.RootOwnedProgram.Check(binary);
        // Under /usr (the system's QEMU, or one built into /usr/local): in the jail already, its built-in paths its own.
        if (binary.StartsWith("/usr/", StringComparison.Ordinal))
            return new QemuInstall { Binary = binary };
        var bin = Path.GetDirectoryName(binary);
        if (bin is null || Path.GetFileName(bin) != "bin" || Path.GetDirectoryName(bin) is not { } prefix || prefix == "/")
            throw new SandboxException(SandboxErrorCode.InvalidArgument,
                $"the QEMU binary '{binary}' must be under /usr or in the bin/ directory of an installation prefix of its own (e.g. /opt/qemu10/usr/bin)");
        var firmware = Path.Combine(prefix, "share", "qemu");
        var modules = Path.Combine(prefix, "lib", "x86_64-linux-gnu", "qemu");
        var qboot = Path.Combine(firmware, "qboot.rom");
        return new QemuInstall
        {
            Binary = binary,
            Prefix = prefix,
            FirmwareDirectory = Directory.Exists(firmware) ? firmware : null,
            Bios = File.Exists(qboot) ? qboot : null,
            ModuleDirectory = Directory.Exists(modules) ? modules : null,
        };
    }
}
