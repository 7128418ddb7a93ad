using System.Text;
using Sandbox.Isolation;
using Sandbox.Isolation.MicroVm;

namespace Sandbox.E2E;

/// <summary>What only the microVM tier promises: its own kernel, no host devices, nothing of the host outside the
/// shares, fresh randomness per guest, an honest accelerator report, and nothing left behind.</summary>
[Collection(SerialCollection.Name)]
public sealed class MicroVmTests
{
    private static MicroVmDriver Driver => Harness.VmDriver;

    private static async Task<string> Exec(ISandbox sandbox, string script)
    {
        var stdout = new MemoryStream();
        var p = await sandbox.ExecAsync(Harness.Sh(script), new ProcessIO { Stdout = stdout }, CancellationToken.None);
        var status = await p.WaitAsync(CancellationToken.None);
        Assert.Equal(0, status.ExitCode);
        return Encoding.UTF8.GetString(stdout.ToArray());
    }

    [Fact]
    public async Task Guest_has_its_own_kernel_no_kvm_and_no_host_files()
    {
        await using var sandbox = await Driver.CreateAsync(new SandboxSpec(), CancellationToken.None);
        var output = await Exec(sandbox,
            "uname -r; test -e /dev/kvm && echo kvm || echo no-kvm; " +
            "for f in /etc/shadow /root /home /var /boot /work/../etc/sudoers; do test -e $f && echo seen:$f; done; " +
            "cat /proc/1/comm; echo done");
        var lines = output.Split('\n');
        Assert.NotEqual(File.ReadAllText("/proc/sys/kernel/osrelease").Trim(), lines[0]);
        Assert.Equal("no-kvm", lines[1]);
        Assert.DoesNotContain("seen:", output);
        Assert.Equal(SandboxTier.MicroVm, sandbox.Info.Tier);
        var probe = await Driver.ProbeAcceleratorAsync(CancellationToken.None);
        Assert.Equal(probe.Accelerator, sandbox.Info.Accelerator);

        // The guest agent lists directories as the container tier does (shared AgentFiles): symlinks not followed.
        await Exec(sandbox, "mkdir /work/d && printf abc > /work/f && ln -s /etc /work/l");
        var listing = await sandbox.ListFilesAsync("/work", 100, CancellationToken.None);
        Assert.Equal(["d", "f", "l"], listing.Entries.Select(e => e.Name));
        Assert.Equal([SandboxFileKind.Directory, SandboxFileKind.File, SandboxFileKind.Symlink], listing.Entries.Select(e => e.Kind));
        Assert.Equal(3, listing.Entries[1].Size);
        Assert.Equal("/etc", listing.Entries[2].SymlinkTarget);
    }

    [Fact]
    public async Task The_guest_reports_its_start_timeline_in_order_and_seeds_its_rng_from_the_cpu()
    {
        await using var sandbox = (MicroVmSandbox)await Driver.CreateAsync(new SandboxSpec(), CancellationToken.None);
        // The kernel's RNG is seeded from RDRAND at boot (random.trust_cpu=on): no getrandom() of the agent waits.
        if (sandbox.Info.Accelerator == Accelerator.Tcg)
            Assert.Equal("rdrand", (await Exec(sandbox, "grep -o -w -m 1 rdrand /proc/cpuinfo")).Trim());
        var timeline = await sandbox.StartTimelineAsync(CancellationToken.None);
        string[] guestOrder = ["kernel-run-init", "agent-main", "port-found", "serving", "setup-start", "setup-done", "exec-spawned"];
        var guest = timeline.Guest.Where(s => guestOrder.Contains(s.Stage)).Select(s => s.Stage);
        Assert.Equal(guestOrder, guest);
        Assert.Equal(timeline.Guest.OrderBy(s => s.Boottime).Select(s => s.Stage), timeline.Guest.Select(s => s.Stage));
        string[] hostOrder = ["boot-start", "jail-started", "qmp-connected", "agent-connected", "agent-answered", "guest-set-up"];
        Assert.Equal(hostOrder, timeline.Host.Select(s => s.Stage).Where(hostOrder.Contains));
        Assert.NotNull(timeline.GuestPingAt);
        Assert.Contains("guest exec-spawned", timeline.Format());
    }

    [Fact]
    public async Task Guest_processes_get_random_addresses_unless_the_host_turns_them_off()
    {
        // Where one process maps the C library, as the guest's kernel placed it.
        const string libcBase = "grep -m 1 libc /proc/self/maps | cut -d- -f1";
        await using var randomized = await Driver.CreateAsync(new SandboxSpec(), CancellationToken.None);
        Assert.Equal("2\n", await Exec(randomized, "cat /proc/sys/kernel/randomize_va_space"));
        var bases = new HashSet<string>();
        for (var i = 0; i < 3; i++)
            bases.Add(await Exec(randomized, libcBase));
        Assert.True(bases.Count > 1, $"three processes mapped libc at one address: {string.Join(", ", bases)}");

        var fixedLayout = new MicroVmDriver(new MicroVmOptions
        {
            AgentDirectory = Harness.AgentDirectory, BootTimeout = Harness.BootTimeout, GuestAddressSpaceRandomization = false,
        });
        await using var sandbox = await fixedLayout.CreateAsync(new SandboxSpec(), CancellationToken.None);
        Assert.Equal("0\n", await Exec(sandbox, "cat /proc/sys/kernel/randomize_va_space"));
        Assert.Equal(await Exec(sandbox, libcBase), await Exec(sandbox, libcBase));
        // The guest kernel's own layout stays random (KASLR) and hidden.
        Assert.Equal("0\n", await Exec(sandbox, "grep -c nokaslr /proc/cmdline || true"));
    }

    [Fact]
    public async Task Guest_kernel_keeps_its_layout_log_and_user_namespaces_from_the_workload()
    {
        await using var sandbox = await Driver.CreateAsync(new SandboxSpec { SyscallProfile = "strict" }, CancellationToken.None);
        Assert.Equal("strict", sandbox.Info.SyscallProfile);
        Assert.NotEmpty(sandbox.Info.SeccompDigest);
        var output = await Exec(sandbox,
            "cat /proc/sys/kernel/kptr_restrict /proc/sys/kernel/dmesg_restrict /proc/sys/user/max_user_namespaces; " +
            "grep -c nokaslr /proc/cmdline; if [ -e /proc/kallsyms ]; then head -n 1 /proc/kallsyms | cut -d' ' -f1; else echo no-kallsyms; fi; " +
            "dmesg >/dev/null 2>&1 && echo dmesg || echo no-dmesg; ls /sys >/dev/null 2>&1 && echo sys || echo no-sys; " +
            "grep -E '^(Seccomp|CapBnd):' /proc/self/status");
        var lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        // Debian's kernel hides kallsyms' addresses; the minimal kernel (`sandbox kernel build`) has no kallsyms at all.
        Assert.Contains(lines.ElementAtOrDefault(4), new[] { "0000000000000000", "no-kallsyms" });
        Assert.Equal(new[] { "2", "1", "0", "0", "no-dmesg", "no-sys", "CapBnd:\t0000000000000000", "Seccomp:\t2" },
            lines.Where((_, i) => i != 4).ToArray());

        // A policy that allows nesting leaves the guest's user namespaces alone.
        await using var nesting = await Driver.CreateAsync(new SandboxSpec { AllowNestedUserNamespaces = true }, CancellationToken.None);
        Assert.NotEqual("0\n", await Exec(nesting, "cat /proc/sys/user/max_user_namespaces"));
    }

    [Fact]
    public async Task Sandboxes_restored_from_one_template_get_fresh_identity()
    {
        await using var a = await Driver.CreateAsync(new SandboxSpec(), CancellationToken.None);
        await using var b = await Driver.CreateAsync(new SandboxSpec { Hostname = "other" }, CancellationToken.None);
        var vmA = (MicroVmSandbox)a;
        var vmB = (MicroVmSandbox)b;
        Assert.NotNull(vmA.Template);
        Assert.Equal(vmA.Template, vmB.Template);
        var script = "head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \\n'; echo; cat /proc/sys/kernel/random/boot_id; hostname; date +%s";
        var ra = (await Exec(a, script)).Split('\n');
        var rb = (await Exec(b, script)).Split('\n');
        Assert.Equal(64, ra[0].Length);
        Assert.NotEqual(ra[0], rb[0]);
        Assert.NotEqual(ra[1], rb[1]);
        Assert.Equal("other", rb[2]);
        Assert.NotEqual(ra[2], rb[2]);
        // The clock comes from the host, not from the moment the template was saved.
        var now = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        Assert.InRange(long.Parse(ra[3]), now - 30, now + 5);
        Assert.InRange(long.Parse(rb[3]), now - 30, now + 5);
    }

    [Fact]
    public async Task Template_failures_fall_back_to_cold_boot_or_discard_the_template()
    {
        // A cache directory that shares the real caches, except that "templates" is a file: the build fails at once.
        var cache = Directory.CreateTempSubdirectory("sandbox-template-fallback-test-").FullName;
        try
        {
            foreach (var name in new[] { "initramfs", "guest-etc", "accel-probe" })
                if (Path.Exists(Path.Combine(Driver.Options.CacheDirectory, name)))
                    File.CreateSymbolicLink(Path.Combine(cache, name), Path.Combine(Driver.Options.CacheDirectory, name));
            File.WriteAllText(Path.Combine(cache, "templates"), "not a directory");
            var logger = new ListLogger<MicroVmDriver>();
            var driver = new MicroVmDriver(new MicroVmOptions
            {
                AgentDirectory = Driver.Options.AgentDirectory,
                CacheDirectory = cache,
                KernelCacheDirectory = Driver.Options.KernelCacheDirectory,
                BootTimeout = Harness.BootTimeout, // both drivers cold-boot: the first without a template, the second to build one
            }, logger: logger);
            await using (var sandbox = await driver.CreateAsync(new SandboxSpec(), CancellationToken.None))
            {
                Assert.Null(((MicroVmSandbox)sandbox).Template);
                Assert.Equal("ok\n", await Exec(sandbox, "echo ok"));
                Assert.Contains(logger.Messages, m => m.Contains("could not be built, cold-booting", StringComparison.Ordinal));
            }

            // Once the cache is usable the template is built on first use; a template whose state is damaged fails
            // that one sandbox and is discarded, so the next one builds it anew instead of failing forever.
            File.Delete(Path.Combine(cache, "templates"));
            var healing = new MicroVmDriver(new MicroVmOptions
            {
                AgentDirectory = driver.Options.AgentDirectory,
                CacheDirectory = cache,
                KernelCacheDirectory = driver.Options.KernelCacheDirectory,
                BootTimeout = Harness.BootTimeout,
            }, logger: logger);
            string key;
            await using (var sandbox = await healing.CreateAsync(new SandboxSpec(), CancellationToken.None))
                key = ((MicroVmSandbox)sandbox).Template ?? throw new InvalidOperationException("not restored");
            var template = healing.Templates.TryGet(key)!;
            File.WriteAllBytes(template.StatePath, new byte[4096]);
            var e = await Assert.ThrowsAnyAsync<SandboxException>(() => healing.CreateAsync(new SandboxSpec(), CancellationToken.None));
            Assert.Contains("snapshot", e.Message);
            Assert.Null(healing.Templates.TryGet(key));
            Assert.Contains(logger.Messages, m => m.Contains("discarding it", StringComparison.Ordinal));
        }
        finally
        {
            Directory.Delete(cache, recursive: true);
        }
    }

    [Fact]
    public async Task Requiring_hardware_virtualization_is_refused_under_tcg_and_honoured_under_kvm()
    {
        var probe = await Driver.ProbeAcceleratorAsync(CancellationToken.None);
        var spec = new SandboxSpec { RequireHardwareVirtualization = true };
        if (probe.Accelerator == Accelerator.Kvm)
        {
            // KVM works here: the requirement is met, and the sandbox must really run under KVM (never TCG).
            await using var sandbox = await Driver.CreateAsync(spec, CancellationToken.None);
            Assert.Equal(Accelerator.Kvm, sandbox.Info.Accelerator);
        }
        else
        {
            var e = await Assert.ThrowsAsync<SandboxException>(() => Driver.CreateAsync(spec, CancellationToken.None));
            Assert.Equal(SandboxErrorCode.FailedPrecondition, e.Code);
            Assert.Contains("TCG", e.Message);
            Assert.Empty(Harness.CgroupLeftovers(spec.Id));
        }
    }

    [Fact]
    public async Task Dispose_leaves_no_qemu_cgroup_or_temp_dir()
    {
        var before = QemuChildren();
        var spec = new SandboxSpec();
        var sandbox = await Driver.CreateAsync(spec, CancellationToken.None);
        var vm = (MicroVmSandbox)sandbox;
        Assert.NotNull(vm.Template); // restored: the template build's QEMU is gone too
        Assert.Single(QemuChildren().Except(before));
        await sandbox.DisposeAsync();
        await sandbox.DisposeAsync(); // idempotent
        Assert.Empty(QemuChildren().Except(before));
        Assert.Empty(Harness.CgroupLeftovers(spec.Id));
        Assert.False(Directory.Exists(vm.Instance.Directory), $"{vm.Instance.Directory} left behind");
        // This process's half-done template builds ({key}.build-{pid}-{guid}): the template cache is the host's, and
        // the test projects running beside this one (sandboxd's, the CI runner's, the shim's microVMs) build templates
        // in it meanwhile.
        Assert.Empty(Directory.EnumerateFileSystemEntries(Driver.Templates.Root, $"*.build-{Environment.ProcessId}-*"));
    }

    [Fact]
    public async Task Qemu_runs_jailed_as_an_unprivileged_uid_of_its_own()
    {
        var before = QemuChildren();
        await using var a = (MicroVmSandbox)await Driver.CreateAsync(new SandboxSpec(), CancellationToken.None);
        await using var b = (MicroVmSandbox)await Driver.CreateAsync(new SandboxSpec(), CancellationToken.None);
        var qemus = QemuChildren().Except(before).ToList();
        Assert.Equal(2, qemus.Count);
        var uids = qemus.Select(pid => Ids(pid, "Uid:")).ToList();
        foreach (var (pid, ids) in qemus.Zip(uids))
        {
            // real, effective, saved and fs uid: all the VM's own, none root; no capabilities, not even bounded ones.
            Assert.All(ids, id => Assert.InRange(id, Driver.Options.HostUidBase, Driver.Options.HostUidBase + Driver.Options.HostUidCount - 1));
            Assert.Single(ids.Distinct());
            Assert.Contains("CapBnd:\t0000000000000000", File.ReadAllText($"/proc/{pid}/status"));
            // None of this process's environment: the jail clears it (bwrap sets PWD for its --chdir; a QEMU in a prefix
            // of its own gets its module directory, QemuInstall).
            var environment = File.ReadAllText($"/proc/{pid}/environ").Split('\0', StringSplitOptions.RemoveEmptyEntries);
            var modules = QemuInstall.Locate(Driver.Options.QemuPath).ModuleDirectory;
            Assert.All(environment, v => Assert.True(v.StartsWith("PWD=", StringComparison.Ordinal) || v == $"QEMU_MODULE_DIR={modules}", v));
            foreach (var ns in new[] { "mnt", "net", "pid", "ipc", "uts" })
                Assert.NotEqual(new FileInfo($"/proc/self/ns/{ns}").LinkTarget, new FileInfo($"/proc/{pid}/ns/{ns}").LinkTarget);
            // Its mount namespace holds /usr and this VM's files, not the host's /etc, /home or /var.
            var root = $"/proc/{pid}/root";
            Assert.False(File.Exists(root + "/etc/shadow"));
            Assert.False(Directory.Exists(root + "/home"));
            Assert.False(Directory.Exists(root + "/var/lib"));
            // Its cgroup namespace is rooted at its own cgroup on every hierarchy: seen from inside that namespace, QEMU
            // is at "/" (bwrap cloned the jail only once placed: VmmJail.ToGatedArgv), never at the engine's path.
            Assert.NotEqual(new FileInfo("/proc/self/ns/cgroup").LinkTarget, new FileInfo($"/proc/{pid}/ns/cgroup").LinkTarget);
            var inside = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo("nsenter", [$"--cgroup=/proc/{pid}/ns/cgroup", "cat", $"/proc/{pid}/cgroup"])
                { RedirectStandardOutput = true })!;
            var lines = inside.StandardOutput.ReadToEnd().Split('\n', StringSplitOptions.RemoveEmptyEntries);
            inside.WaitForExit();
            Assert.NotEmpty(lines);
            Assert.All(lines, line => Assert.EndsWith(":/", line));
        }
        Assert.NotEqual(uids[0][0], uids[1][0]);
        Assert.Equal(new[] { a.Info.HostUid, b.Info.HostUid }.Order(), uids.Select(u => u[0]).Order());
    }

    private static int[] Ids(int pid, string field) =>
        File.ReadLines($"/proc/{pid}/status").First(l => l.StartsWith(field, StringComparison.Ordinal))[field.Length..]
            .Split('\t', StringSplitOptions.RemoveEmptyEntries).Select(int.Parse).ToArray();

    /// <summary>QEMU processes started by this test process: each is PID 1 of its jail, a child of the jail's bwrap.</summary>
    private static IReadOnlyList<int> QemuChildren()
    {
        var me = Environment.ProcessId.ToString();
        var parents = new Dictionary<int, (string Comm, string Ppid)>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var pid)) continue;
            try
            {
                var stat = File.ReadAllText(Path.Combine(dir, "stat"));
                var close = stat.LastIndexOf(')');
                parents[pid] = (stat[(stat.IndexOf('(') + 1)..close], stat[(close + 2)..].Split(' ')[1]);
            }
            catch (IOException)
            {
            }
        }
        return parents.Where(p => p.Value.Comm.StartsWith("qemu", StringComparison.Ordinal)
                && int.TryParse(p.Value.Ppid, out var ppid) && parents.TryGetValue(ppid, out var parent)
                && parent.Comm == "bwrap" && parent.Ppid == me)
            .Select(p => p.Key).ToList();
    }
}
