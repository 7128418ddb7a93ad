using System.Text;
using Sandbox.Isolation;
using Sandbox.Isolation.MicroVm;
using Sandbox.Isolation.MicroVm.Kernel;

namespace Sandbox.E2E;

/// <summary>How the microVM tier starts fast: snapshot templates whose RAM no VM can write, directory roots set up
/// and warmed in the template, and the minimal guest kernel when one is built.</summary>
[Collection(SerialCollection.Name)]
public sealed class MicroVmTemplateTests : IDisposable
{
    private static MicroVmDriver Driver => Harness.VmDriver;
    private readonly List<string> _cleanup = [];

    public void Dispose()
    {
        foreach (var dir in _cleanup)
            Directory.Delete(dir, recursive: true);
    }

    private static Task<string> Exec(ISandbox sandbox, string script) => Harness.ShOutputAsync(sandbox, script);

    [Fact]
    public async Task Clones_map_the_template_ram_from_a_sealed_memfd_that_no_vm_uid_can_write()
    {
        await using var clone = (MicroVmSandbox)await Driver.CreateAsync(new SandboxSpec(), CancellationToken.None);
        var template = Driver.Templates.TryGet(clone.Template ?? throw new InvalidOperationException("not restored from a template"))!;
        Assert.Equal(UnixFileMode.UserRead, File.GetUnixFileMode(template.RamPath));
        Assert.Equal("0", Stat(template.RamPath, "%u"));

        var qemu = clone.Instance.QemuPid;
        Assert.StartsWith("/memfd:sandbox-template-ram", new FileInfo($"/proc/{qemu}/fd/{VmmJail.TemplateRamFd}").LinkTarget);
        // The clone's jail has no path to the RAM file (nor to the template directory).
        Assert.False(File.Exists($"/proc/{qemu}/root{template.RamPath}"));
        Assert.False(Directory.Exists($"/proc/{qemu}/root{Driver.Templates.Root}"));
        // Even root, through QEMU's own descriptor opened read-write, cannot change a byte the clones share.
        using var ram = File.OpenHandle($"/proc/{qemu}/fd/{VmmJail.TemplateRamFd}", FileMode.Open, FileAccess.ReadWrite);
        Assert.ThrowsAny<Exception>(() => RandomAccess.Write(ram, new byte[1], 0));
        Assert.Equal("ok\n", await Exec(clone, "echo ok"));
    }

    [Fact]
    public async Task A_clones_qemu_may_back_its_translated_code_with_huge_pages_a_booting_one_gets_none()
    {
        await using var clone = (MicroVmSandbox)await Driver.CreateAsync(new SandboxSpec(), CancellationToken.None);
        Assert.NotNull(clone.Template);
        Assert.Equal("1", ProcStatus(clone.Instance.QemuPid, "THP_enabled"));
        Assert.Equal("ok\n", await Exec(clone, "echo ok"));
        // Where the host hands out huge pages on request (THP mode madvise or always), the clone's translated code now
        // sits in them: the translation buffer is QEMU's only anonymous executable mapping.
        if (!File.ReadAllText("/sys/kernel/mm/transparent_hugepage/enabled").Contains("[never]", StringComparison.Ordinal))
            Assert.True(TranslationBufferHugeKiB(clone.Instance.QemuPid) > 0, "the clone's translation buffer has no huge page");

        // A VM with a tmpfs mount cold-boots: its anonymous guest RAM must not be taken in huge pages.
        await using var booted = (MicroVmSandbox)await Driver.CreateAsync(
            new SandboxSpec { ScratchMounts = [new ScratchMount("/scratch", 1 << 20)] }, CancellationToken.None);
        Assert.Null(booted.Template);
        Assert.Equal("0", ProcStatus(booted.Instance.QemuPid, "THP_enabled"));
    }

    [Fact]
    public async Task A_clone_gets_its_own_translation_cache_size_from_the_same_template_and_works_through_its_flushes()
    {
        var small = new MicroVmDriver(new MicroVmOptions
        {
            AgentDirectory = Driver.Options.AgentDirectory,
            KernelCacheDirectory = Driver.Options.KernelCacheDirectory,
            BootTimeout = Driver.Options.BootTimeout,
            CloneTcgTranslationCacheMiB = 4,
        });
        await using var clone = (MicroVmSandbox)await small.CreateAsync(new SandboxSpec(), CancellationToken.None);
        await using var usual = (MicroVmSandbox)await Driver.CreateAsync(new SandboxSpec(), CancellationToken.None);
        // One template for both: the clone's cache size is not part of its identity.
        Assert.NotNull(clone.Template);
        Assert.Equal(usual.Template, clone.Template);
        if (clone.Info.Accelerator != Accelerator.Tcg) return; // KVM translates nothing
        Assert.Contains("tcg,tb-size=4", QemuArgv(clone.Instance.QemuPid));
        Assert.Contains($"tcg,tb-size={Driver.Options.TcgTranslationCacheMiB}", QemuArgv(usual.Instance.QemuPid));
        // A 4 MiB buffer fills several times over in a restore and these execs: QEMU flushes it and goes on.
        for (var i = 0; i < 3; i++)
            Assert.Equal("ok 6\n", await Exec(clone, "n=0; for i in 1 2 3; do n=$((n+i)); done; echo ok $n"));
    }

    private static string[] QemuArgv(int pid) => File.ReadAllText($"/proc/{pid}/cmdline").Split('\0');

    private static string ProcStatus(int pid, string field) => File.ReadLines($"/proc/{pid}/status")
        .Single(l => l.StartsWith(field + ":", StringComparison.Ordinal))[(field.Length + 1)..].Trim();

    private static long TranslationBufferHugeKiB(int pid)
    {
        long kib = 0;
        var inBuffer = false;
        foreach (var line in File.ReadLines($"/proc/{pid}/smaps"))
        {
            var fields = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (fields.Length >= 5 && fields[0].Contains('-') && !fields[0].EndsWith(':'))
                inBuffer = fields.Length == 5 && fields[1].Contains('x');
            else if (inBuffer && fields[0] == "AnonHugePages:")
                kib += long.Parse(fields[1]);
        }
        return kib;
    }

    [Fact]
    public async Task A_directory_root_is_set_up_and_warmed_in_the_template_and_each_clone_gets_its_own_writable_dirs()
    {
        var spec = new SandboxSpec { Rootfs = RootfsSpec.Directory(BusyboxRoot()), Hostname = "clone-a" };
        await using var a = (MicroVmSandbox)await Driver.CreateAsync(spec, CancellationToken.None);
        Assert.NotNull(a.Template);
        Assert.Contains("root-set-up", File.ReadAllText(Path.Combine(Driver.Templates.TryGet(a.Template!)!.Directory, "identity")));

        var first = (await Exec(a, "hostname; ls -A /tmp | wc -l; echo from-a > /tmp/a; grep -c ' erofs ' /proc/mounts; id -u")).Split('\n');
        Assert.Equal("clone-a", first[0]);
        Assert.Equal("0", first[1].Trim()); // nothing the template's warm-up left
        Assert.NotEqual("0", first[2].Trim()); // the root image is mounted
        Assert.Equal(Driver.Options.GuestUid.ToString(), first[3]);

        await using var b = (MicroVmSandbox)await Driver.CreateAsync(spec with
        {
            Id = SandboxId.New(),
            Hostname = "clone-b",
            Limits = ResourceLimits.Default with { DiskMiB = 8 },
        }, CancellationToken.None);
        Assert.Equal(a.Template, b.Template);
        var second = (await Exec(b, "hostname; ls -A /tmp | wc -l; df -k /tmp | tail -n 1")).Split('\n');
        Assert.Equal("clone-b", second[0]);
        Assert.Equal("0", second[1].Trim()); // a's file is a's alone
        Assert.Equal("8192", second[2].Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]); // b's disk size, not the template's
        Assert.Equal("from-a\n", await Exec(a, "cat /tmp/a"));
    }

    [MinimalKernelFact]
    public async Task The_tier_boots_the_minimal_kernel_when_one_is_built()
    {
        var built = MinimalKernelBuilder.TryLocate(Driver.Options.KernelCacheDirectory)!;
        var release = File.ReadAllText(Path.Combine(Path.GetDirectoryName(built.VmlinuxPath)!, "release")).Trim();
        await using var restored = (MicroVmSandbox)await Driver.CreateAsync(new SandboxSpec(), CancellationToken.None);
        Assert.Equal(release, restored.GuestKernel);
        Assert.Equal(release + "\n", await Exec(restored, "uname -r"));

        var cold = new MicroVmDriver(new MicroVmOptions { AgentDirectory = Driver.Options.AgentDirectory, SnapshotTemplates = false, BootTimeout = Harness.BootTimeout });
        await using var booted = (MicroVmSandbox)await cold.CreateAsync(new SandboxSpec { Rootfs = RootfsSpec.Directory(BusyboxRoot()) }, CancellationToken.None);
        Assert.Equal(release, booted.GuestKernel);
        Assert.Equal("ok\n", await Exec(booted, "cat /proc/1/comm >/dev/null 2>&1; echo ok"));

        var debian = new MicroVmDriver(new MicroVmOptions { AgentDirectory = Driver.Options.AgentDirectory, MinimalKernel = false, BootTimeout = Harness.BootTimeout });
        await using var other = (MicroVmSandbox)await debian.CreateAsync(new SandboxSpec(), CancellationToken.None);
        Assert.NotEqual(release, other.GuestKernel);
    }

    /// <summary>A busybox root with fixed contents and times: its image and template are built once, not per run.</summary>
    private string BusyboxRoot()
    {
        Assert.True(File.Exists("/bin/busybox"), "busybox-static is not installed (/bin/busybox; scripts/bootstrap.sh installs it)");
        var dir = Directory.CreateTempSubdirectory("sandbox-template-root-").FullName;
        _cleanup.Add(dir);
        File.SetUnixFileMode(dir, (UnixFileMode)0b111_101_101);
        var root = Path.Combine(dir, "root");
        Directory.CreateDirectory(Path.Combine(root, "bin"));
        File.Copy("/bin/busybox", Path.Combine(root, "bin", "busybox"));
        File.SetLastWriteTimeUtc(Path.Combine(root, "bin", "busybox"), new DateTime(2026, 1, 1, 0, 0, 0, DateTimeKind.Utc));
        foreach (var applet in new[] { "sh", "cat", "echo", "hostname", "ls", "wc", "grep", "df", "tail", "id", "true", "uname" })
            File.CreateSymbolicLink(Path.Combine(root, "bin", applet), "busybox");
        File.SetUnixFileMode(root, (UnixFileMode)0b111_101_101);
        return root;
    }

    private static string Stat(string path, string format)
    {
        using var p = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo("stat", ["-c", format, path]) { RedirectStandardOutput = true })!;
        var text = p.StandardOutput.ReadToEnd().Trim();
        p.WaitForExit();
        return text;
    }
}

/// <summary>Skipped, with the reason, where no minimal guest kernel is built (`sandbox kernel build`).</summary>
public sealed class MinimalKernelFactAttribute : FactAttribute
{
    public MinimalKernelFactAttribute()
    {
        if (MinimalKernelBuilder.TryLocate(new MicroVmOptions().KernelCacheDirectory) is null)
            Skip = "no minimal guest kernel is built (sandbox kernel build; optional, minutes of compiling)";
    }
}
