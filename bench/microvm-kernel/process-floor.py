#!/usr/bin/env python3
"""What one process start costs a TCG guest, without the agent. One plain QEMU per variant (the tier's machine, kernel
and tuned TCG command line; no jail, no devices but the serial console), all booted at once with a busybox /init that
waits for commands on its console. Each command runs a loop of N iterations in the guest and answers "done"; the host
reads QEMU's CPU time (the sum of its threads' schedstat run time, ns) before the command and at the answer. Rounds
alternate the variants (the order rotated every round), so the host's load falls on each alike while the others idle.
Loops: the shell's own loop (builtins only), a fork that exits without exec (`( : )`), fork+exec of a static `true`
that is one exit syscall (no loader, no libc), and fork+exec of the host's dynamically linked /usr/bin/true (ld.so,
libc), and the same /usr/bin/true exec'd by a static wrapper without and with a seccomp filter (WRAP). Each loop runs 5 times untimed at boot. Per process = (loop CPU - shell loop CPU) / N. Also TCG's own counters per process
from the monitor's `info jit` (blocks translated and invalidated, softmmu TLB flushes): they do not move with the load.
Each variant prints its
guest's /sys/devices/system/cpu/vulnerabilities once. Variants are NAME=CPU|EXTRA_CMDLINE (CPU: QEMU's -cpu; EXTRA
appended to the tier's tuned TCG line).
Usage: bench/microvm-kernel/process-floor.py ROUNDS N VMLINUX NAME=CPU|EXTRA ..."""
import ctypes, glob, os, shutil, socket, statistics, subprocess, sys, tempfile, time

rounds, n, vmlinux = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
variants = [a.split("=", 1) for a in sys.argv[4:]]
LOOPS = ["shell", "fork", "static-true", "dynamic-true", "wrapped-true", "seccomp-true"]
BODY = {"shell": ":", "fork": "( : )", "static-true": "/bin/static-true", "dynamic-true": "/usr/bin/true",
        "wrapped-true": "/bin/wrap n /usr/bin/true", "seccomp-true": "/bin/wrap f /usr/bin/true"}
# A static program that execs its argv[2]; with "f" it first takes no_new_privs and a seccomp filter of 123 classic-BPF
# instructions (the tier's default profile compiles to 121, docs/seccomp.md): the arch check, then 59 numbers no syscall
# has refused one by one (so `true` runs unchanged), else allow. What a guest workload process pays for its filter: the kernel checks and
# converts it, and (with net.core.bpf_jit_enable=1) compiles it to new machine code that TCG must translate.
WRAP = r"""
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>
int main(int argc, char **argv, char **envp) {
    struct sock_filter f[123];
    int n = 0;
    f[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch));
    f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0);
    f[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS);
    f[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr));
    for (int nr = 1000; nr < 1059; nr++) {
        f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, nr, 0, 1);
        f[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | 1);
    }
    f[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
    struct sock_fprog prog = { .len = n, .filter = f };
    if (argv[1][0] == 'f' && (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) || syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog)))
        return 2;
    execve(argv[2], argv + 2, envp);
    return 3;
}
"""


def tsc_khz():
    for line in open("/proc/cpuinfo"):
        if line.startswith("cpu MHz"):
            return round(float(line.split(":")[1]) * 1000)
    raise SystemExit("no cpu MHz in /proc/cpuinfo")


# QemuCommandLine.TunedKernelCommandLine for TCG (ASLR on), rdinit for the busybox init.
BASE = ("console=ttyS0 quiet panic=-1 reboot=t cryptomgr.notests noreplace-smp no_timer_check "
        "initcall_blacklist=load_system_certificate_list,crypto_kdf108_init,init_blk_tracer tsc=reliable "
        f"rcupdate.rcu_expedited=1 lsm=capability audit=0 apparmor=0 random.trust_cpu=on tsc_early_khz={tsc_khz()} rdinit=/init")


def build(d):
    root = os.path.join(d, "root")
    for sub in ("bin", "dev", "proc", "sys", "usr/bin", "lib64", "lib/x86_64-linux-gnu"):
        os.makedirs(os.path.join(root, sub))
    shutil.copy("/bin/busybox", os.path.join(root, "bin"))
    for f in ("/usr/bin/true", "/lib64/ld-linux-x86-64.so.2", "/lib/x86_64-linux-gnu/libc.so.6"):
        shutil.copy(os.path.realpath(f), root + f)
    src = os.path.join(d, "true.c")
    with open(src, "w") as f:
        f.write('void _start(void) { __asm__ volatile("mov $60, %eax\\n xor %edi, %edi\\n syscall"); }\n')
    subprocess.run(["clang", "-O2", "-static", "-nostdlib", "-ffreestanding", "-s", "-o", os.path.join(root, "bin/static-true"), src], check=True)
    with open(os.path.join(d, "wrap.c"), "w") as f:
        f.write(WRAP)
    subprocess.run(["clang", "-O2", "-static", "-s", "-o", os.path.join(root, "bin/wrap"), os.path.join(d, "wrap.c")], check=True)
    script = ["#!/bin/busybox sh", "B=/bin/busybox", "$B mount -t proc proc /proc", "$B mount -t sysfs sys /sys", "$B stty -echo",
              "echo \"cmdline bpf_jit_enable=$($B cat /proc/sys/net/core/bpf_jit_enable)\"",
              "for f in /sys/devices/system/cpu/vulnerabilities/*; do echo \"vuln $($B basename $f): $($B cat $f)\"; done",
              "echo \"cmdline $($B cat /proc/cmdline)\""]
    # The loops' code translated and their files in the page cache before anything is timed.
    script += [f"i=0; while [ $i -lt 5 ]; do {BODY[loop]}; i=$((i+1)); done" for loop in LOOPS]
    script += ["echo floor-ready", "while read cmd; do", "  case $cmd in"]
    script += [f"    {loop}) i=0; while [ $i -lt {n} ]; do {BODY[loop]}; i=$((i+1)); done;;" for loop in LOOPS]
    script += ["    quit) $B reboot -f;;", "  esac", "  echo \"done $cmd\"", "done"]
    with open(os.path.join(root, "init"), "w") as f:
        f.write("\n".join(script) + "\n")
    os.chmod(os.path.join(root, "init"), 0o755)
    subprocess.run(["mknod", os.path.join(root, "dev/console"), "c", "5", "1"], check=True)
    subprocess.run(f"cd {root} && find . | cpio -o -H newc --quiet > {d}/initrd.cpio", shell=True, check=True)
    return os.path.join(d, "initrd.cpio")


def cpu_ns(pid):
    total = 0
    for stat in glob.glob(f"/proc/{pid}/task/*/schedstat"):
        try:
            total += int(open(stat).read().split()[0])
        except (OSError, ValueError):
            pass
    return total


def start(initrd, cpu, extra, monitor):
    argv = ["qemu-system-x86_64", "-nodefaults", "-no-user-config", "-nographic", "-no-reboot", "-M", "microvm",
            "-accel", "tcg,tb-size=64", "-cpu", cpu, "-m", "256M", "-smp", "1", "-kernel", vmlinux, "-initrd", initrd,
            "-append", f"{BASE} {extra}".strip(), "-chardev", "stdio,id=console,signal=off", "-serial", "chardev:console",
            "-monitor", f"unix:{monitor},server=on,wait=off"]
    # THP off (PR_SET_THP_DISABLE, as the tier's booting QEMUs): whether a QEMU's translation buffer got huge pages
    # depends on the host's free memory when it starts and changed its speed for its whole life (ninth round).
    no_thp = lambda: ctypes.CDLL(None, use_errno=True).prctl(41, 1, 0, 0, 0)
    return subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1,
                            preexec_fn=no_thp)


class Monitor:
    """QEMU's human monitor on a unix socket: `info jit` counters (TCG's translation and softmmu TLB statistics)."""
    def __init__(self, path):
        for _ in range(100):
            try:
                self.sock = socket.socket(socket.AF_UNIX)
                self.sock.connect(path)
                break
            except OSError:
                time.sleep(0.1)
        self._read()

    def _read(self):
        data = b""
        while not data.endswith(b"(qemu) "):
            data += self.sock.recv(65536)
        return data.decode(errors="replace")

    def jit(self):
        self.sock.sendall(b"info jit\n")
        counters = {}
        for line in self._read().splitlines():
            for key in ("TB count", "TB invalidate count", "TLB full flushes", "TLB partial flushes"):
                if line.startswith(key):
                    counters[key] = int(line[len(key):].split()[0])
        return counters


def until(qemu, marker, info=None):
    for line in qemu.stdout:
        line = line.strip()
        if line == marker:
            return
        if info is not None and line.startswith(("vuln ", "cmdline ")):
            info.append(line)
    raise SystemExit(f"QEMU exited before '{marker}'")


d = tempfile.mkdtemp(prefix="sandbox-bench-floor-")
vms = {}
try:
    initrd = build(d)
    monitors = {}
    for name, spec in variants:
        vms[name] = start(initrd, *spec.split("|", 1), os.path.join(d, f"monitor-{len(vms)}"))
    for i, name in enumerate(vms):
        monitors[name] = Monitor(os.path.join(d, f"monitor-{i}"))
    for name, qemu in vms.items():
        info = []
        until(qemu, "floor-ready", info)
        for line in info:
            if line.startswith(("vuln spectre", "cmdline")):
                print(f"[{name}] {line}", flush=True)
    cpu = {name: {loop: [] for loop in LOOPS} for name in vms}
    jit = {name: {loop: [] for loop in LOOPS} for name in vms}
    names = list(vms)
    for r in range(rounds):
        for loop in LOOPS:
            for name in names[r % len(names):] + names[:r % len(names)]:
                qemu = vms[name]
                counters = monitors[name].jit()  # outside the CPU window: the monitor's own work is not the guest's
                before = cpu_ns(qemu.pid)
                qemu.stdin.write(loop + "\n")
                until(qemu, f"done {loop}")
                cpu[name][loop].append((cpu_ns(qemu.pid) - before) / 1e6)
                after = monitors[name].jit()
                jit[name][loop].append({k: after[k] - counters[k] for k in counters})
        print(f"round {r}: load {open('/proc/loadavg').read().split()[0]}", flush=True)
    print(f"QEMU CPU per process (loop CPU - shell loop CPU) / {n}, p50 (min, max) of {rounds} rounds; shell loop p50 per iteration:")
    for name in names:
        per = {loop: [(cpu[name][loop][r] - cpu[name]["shell"][r]) / n for r in range(rounds)] for loop in LOOPS[1:]}
        print(f"{name:14s} " + " | ".join(f"{k} {statistics.median(v):.2f} ms ({min(v):.2f}, {max(v):.2f})" for k, v in per.items()) +
              f" | shell {statistics.median(cpu[name]['shell']) / n:.3f} ms")
    # TCG's own counters per process (loop - shell loop, / N; sums over all rounds): code translated anew, translated
    # code thrown away because its guest page was written, and softmmu TLB flushes (a CR3 write flushes it all).
    print("TCG counters per process (loop - shell loop): translation blocks made / invalidated, TLB full / partial flushes:")
    for name in names:
        cells = []
        for loop in LOOPS[1:]:
            per = {k: (sum(j[k] for j in jit[name][loop]) - sum(j[k] for j in jit[name]["shell"])) / (n * rounds) for k in jit[name][loop][0]}
            cells.append(f"{loop} {per['TB count']:.1f} / {per['TB invalidate count']:.1f}, {per['TLB full flushes']:.1f} / {per['TLB partial flushes']:.1f}")
        print(f"{name:14s} " + " | ".join(cells))
    # Each round's loop against the same loop of the first variant in that round (paired: the load at that moment).
    first = names[0]
    print(f"paired against {first}: p50 of the per-round ratio of the loop's CPU, and in how many rounds it was lower")
    for name in names[1:]:
        cells = []
        for loop in LOOPS[1:]:
            ratios = [cpu[name][loop][r] / cpu[first][loop][r] for r in range(rounds)]
            cells.append(f"{loop} {statistics.median(ratios):.3f} ({sum(q < 1 for q in ratios)}/{rounds})")
        print(f"{name:14s} " + " | ".join(cells))
finally:
    for qemu in vms.values():
        qemu.kill()
        qemu.wait()
    shutil.rmtree(d)
