"""A busybox initramfs whose /init prints the guest's uptime on one line ("plain-ready uptime ...") and resets the
machine; with DUMP=1 on the kernel command line it prints the kernel log first. Shared by the two scripts here."""
import os, subprocess, tempfile

BASE_CMDLINE = None  # filled by base_cmdline()


def build():
    d = tempfile.mkdtemp(prefix="sandbox-bench-kernel-")
    root = os.path.join(d, "root")
    for sub in ("bin", "dev", "proc"):
        os.makedirs(os.path.join(root, sub))
    subprocess.run(["cp", "/bin/busybox", os.path.join(root, "bin")], check=True)
    with open(os.path.join(root, "init"), "w") as f:
        f.write("#!/bin/busybox sh\n/bin/busybox mount -t proc proc /proc\n"
                "/bin/busybox echo \"plain-ready uptime $(/bin/busybox cat /proc/uptime)\"\n"
                "[ -n \"$DUMP\" ] && /bin/busybox dmesg\n/bin/busybox reboot -f\n")
    os.chmod(os.path.join(root, "init"), 0o755)
    subprocess.run(["mknod", os.path.join(root, "dev/console"), "c", "5", "1"], check=True)
    subprocess.run(f"cd {root} && find . | cpio -o -H newc --quiet > {d}/initrd.cpio", shell=True, check=True)
    return os.path.join(d, "initrd.cpio")


def tsc_khz():
    for line in open("/proc/cpuinfo"):
        if line.startswith("cpu MHz"):
            return round(float(line.split(":")[1]) * 1000)
    raise SystemExit("no cpu MHz in /proc/cpuinfo")


def base_cmdline():
    """The tier's tuned command line before this round's additions (QemuCommandLine.TunedKernelCommandLine)."""
    return ("console=ttyS0 quiet panic=-1 reboot=t cryptomgr.notests "
            "initcall_blacklist=load_system_certificate_list,crypto_kdf108_init,init_blk_tracer tsc=reliable "
            f"rcupdate.rcu_expedited=1 lsm=capability audit=0 apparmor=0 random.trust_cpu=on tsc_early_khz={tsc_khz()} rdinit=/init")


def qemu_argv(vmlinux, initrd, cmdline, extra=()):
    return ["qemu-system-x86_64", "-nodefaults", "-no-user-config", "-nographic", "-no-reboot", "-M", "microvm,acpi=off",
            "-accel", "tcg,tb-size=64", "-cpu", "qemu64,+rdrand", "-m", "256M", "-smp", "1", "-kernel", vmlinux,
            "-initrd", initrd, "-append", cmdline, "-chardev", "stdio,id=console,signal=off", "-serial", "chardev:console", *extra]
