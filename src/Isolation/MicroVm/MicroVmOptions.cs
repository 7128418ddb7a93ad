namespace Sandbox.Isolation.MicroVm;

/// <summary>Settings of the microVM tier. Every property states its unit and default.</summary>
public sealed class MicroVmOptions
{
    /// <summary>The QEMU binary. Default <see cref="QemuInstall.DefaultBinary"/>: bookworm-backports' QEMU 10 in
    /// /opt/qemu10 where scripts/install-qemu-backports.sh installed it, else /usr/bin/qemu-system-x86_64 (Debian
    /// package qemu-system-x86).</summary>
    public string QemuPath { get; init; } = QemuInstall.DefaultBinary;

    /// <summary>Where scripts/fetch-kernel.sh unpacked Debian's kernel: &lt;dir&gt;/current/{vmlinux,lib/modules}.
    /// Default /var/cache/sandbox/kernel.</summary>
    public string KernelCacheDirectory { get; init; } = "/var/cache/sandbox/kernel";

    /// <summary>Boot the minimal guest kernel of `sandbox kernel build` (&lt;KernelCacheDirectory&gt;/minimal/current) when
    /// one is built; Debian's otherwise. Default true; false = always Debian's.</summary>
    public bool MinimalKernel { get; init; } = true;

    /// <summary>Built artefacts (initramfs images by digest, the guest /etc, the accelerator probe result).
    /// Default /var/cache/sandbox.</summary>
    public string CacheDirectory { get; init; } = "/var/cache/sandbox";

    /// <summary>Where each VM gets its 0700 state directory ({dir}/{id}: its QMP and agent sockets). Not /tmp: a
    /// service with PrivateTmp would lose the sockets of VMs that outlive it. Reclaimed at start-up
    /// (ILeftoverReclaimer). Default /run/sandbox/vm.</summary>
    public string StateDirectory { get; init; } = "/run/sandbox/vm";

    /// <summary>How long taking a VM back after a restart may take (QEMU reconnects its sockets every second, then the
    /// agent must answer). Default 15 s.</summary>
    public TimeSpan AttachTimeout { get; init; } = TimeSpan.FromSeconds(15);

    /// <summary>The agent bundle (scripts/build-agent.sh); null = the same search as the container tier.</summary>
    public string? AgentDirectory { get; init; }

    /// <summary>Programs and state directory of network mode egress, shared with the container tier (docs/network.md).</summary>
    public Network.NetworkOptions Network { get; init; } = new();

    /// <summary>Guest RAM on top of the sandbox's memory limit, for the guest kernel, page cache and the agent, MiB.
    /// Default 192.</summary>
    public long GuestOverheadMiB { get; init; } = 192;

    /// <summary>The guest kernel seeds its RNG from the vCPU's RDRAND at boot (random.trust_cpu=on; under TCG QEMU
    /// emulates RDRAND from the host's getrandom). Default true; false = the guest waits for its own jitter entropy,
    /// seconds of a TCG cold boot (kept for bench/microvm-start's before/after).</summary>
    public bool SeedGuestRngFromCpu { get; init; } = true;

    /// <summary>Every process the guest starts gets randomized library, stack and heap addresses (the guest kernel's
    /// randomize_va_space=2). Default true. false boots the guest with <c>norandmaps</c>: the workload's processes are
    /// laid out the same every time (the guest kernel's own KASLR stays on). Under TCG that makes a process start
    /// ~3x cheaper: QEMU finds translated code by guest virtual address, so a library mapped somewhere new is
    /// translated again in every process (docs/microvm-bench.md). It weakens only the hardening of the workload's own
    /// programs against memory-corruption exploits, not the VM boundary; it is a choice for TCG hosts, never made
    /// silently.</summary>
    public bool GuestAddressSpaceRandomization { get; init; } = true;

    /// <summary>Virtual CPUs per guest. Default 1 (under TCG more vCPUs only cost host threads).</summary>
    public int VCpus { get; init; } = 1;

    /// <summary>From QEMU start to the agent answering. Default 60 s (a TCG boot takes ~3 s on an idle host).</summary>
    public TimeSpan BootTimeout { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>Run under TCG (software emulation) where KVM is unusable. Default true; false = the tier is
    /// unavailable on such hosts.</summary>
    public bool AllowTcg { get; init; } = true;

    /// <summary>The KVM probe boot's limit. Default 10 s.</summary>
    public TimeSpan KvmProbeTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Host cgroup parent of the QEMU processes. Default "sandbox-vm".</summary>
    public string CgroupParent { get; init; } = "sandbox-vm";

    /// <summary>TCG translation cache size of a cold-booting VM (and a template being built), MiB (caps host memory per
    /// VM). Default 64.</summary>
    public int TcgTranslationCacheMiB { get; init; } = 64;

    /// <summary>TCG translation cache size of a VM restored from a snapshot template, MiB. The buffer is a clone's
    /// largest private mapping: an idle restored clone has written ~14 MiB of translated code, one that ran an exec
    /// ~22 MiB; QEMU flushes the buffer when it is full and translates again what runs next, so a smaller one caps a
    /// clone's memory and costs a busy clone retranslation: at 8 MiB an exec of `true` cost a clone ~4.8x and python3 ~5.6x
    /// the QEMU CPU they cost at 64, at 16 MiB ~2x (docs/microvm-bench.md, eleventh round), so a small one suits only
    /// fleets of mostly idle clones. null = the same as <see cref="TcgTranslationCacheMiB"/>. Default null.</summary>
    public int? CloneTcgTranslationCacheMiB { get; init; }

    /// <summary>A restored clone's QEMU may back its TCG translation buffer with transparent huge pages (QEMU asks for
    /// them with MADV_HUGEPAGE; the host's THP mode must be madvise or always). Default true. A clone writes ~15-25 MiB
    /// of translated code after its restore: in 4 KiB pages that is ~4-6k page faults (10-40 us each on a virtualized
    /// host), in 2 MiB pages a dozen, and the host's TLB covers the code with fewer entries; its PSS grows by the
    /// last huge page's unused part (docs/microvm-bench.md, ninth round). false = THP off for every QEMU, as cold
    /// boots always are (their guest RAM is anonymous and would be backed by huge pages too).</summary>
    public bool TranslationBufferHugePages { get; init; } = true;

    /// <summary>Host memory for QEMU itself on top of guest RAM (TCG cache, device state), MiB. Default 256.</summary>
    public long QemuOverheadMiB { get; init; } = 256;

    /// <summary>bubblewrap, which builds QEMU's jail (<see cref="VmmJail"/>). Default /usr/bin/bwrap.</summary>
    public string BwrapPath { get; init; } = "/usr/bin/bwrap";

    /// <summary>util-linux setpriv, which drops QEMU to its host uid inside the jail. Default /usr/bin/setpriv.</summary>
    public string SetprivPath { get; init; } = "/usr/bin/setpriv";

    /// <summary>mkfs.erofs (erofs-utils), which turns a directory rootfs into the guest's read-only root image. Default
    /// /usr/bin/mkfs.erofs.</summary>
    public string MkfsErofsPath { get; init; } = "/usr/bin/mkfs.erofs";

    /// <summary>First host uid of the range QEMU processes run as, one per VM. Default 200000: below the container
    /// tier's uid ranges (from 0x70000000), so a VM and a container never share a uid.</summary>
    public int HostUidBase { get; init; } = 200_000;

    /// <summary>Size of the host uid range. Default 65536.</summary>
    public int HostUidCount { get; init; } = 65_536;

    /// <summary>Where a VM's host uid is held by an flock, across engine processes. Default /run/sandbox/uids.</summary>
    public string HostUidLockDirectory { get; init; } = "/run/sandbox/uids";

    /// <summary>uid/gid the workload runs as inside the guest. Default 1000 (as in the container tier).</summary>
    public int GuestUid { get; init; } = 1000;

    /// <summary>Start sandboxes from snapshot templates (CacheDirectory/templates, built on first use). Default true;
    /// false = every sandbox cold-boots.</summary>
    public bool SnapshotTemplates { get; init; } = true;

    /// <summary>After a template build failed, how long sandboxes of that machine cold-boot before the build is tried
    /// again. Default 10 minutes.</summary>
    public TimeSpan TemplateRetryInterval { get; init; } = TimeSpan.FromMinutes(10);

    /// <summary>Snapshot templates not used for this long are deleted when another template is built. Default 7 days.</summary>
    public TimeSpan TemplateMaxIdle { get; init; } = TimeSpan.FromDays(7);
}
