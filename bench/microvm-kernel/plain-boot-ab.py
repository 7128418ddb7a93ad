#!/usr/bin/env python3
"""Plain TCG boots of guest kernels and command-line additions, alternated round robin in one run (the host is noisy:
compare within a run): wall time to the busybox init's line, QEMU's CPU time (user + sys), the guest's uptime when
its /init runs. Each variant is NAME=VMLINUX|EXTRA_CMDLINE (EXTRA appended to the tier's tuned line of before this
round). Usage: bench/microvm-kernel/plain-boot-ab.py ROUNDS NAME=VMLINUX|EXTRA ..."""
import os, resource, shutil, statistics, subprocess, sys, time
import plain_initrd

rounds = int(sys.argv[1])
variants = [a.split("=", 1) for a in sys.argv[2:]]
initrd = plain_initrd.build()
base = plain_initrd.base_cmdline()
results = {name: [] for name, _ in variants}
try:
    for r in range(rounds):
        for name, spec in variants:
            vmlinux, extra = spec.split("|", 1)
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            start = time.monotonic()
            qemu = subprocess.Popen(plain_initrd.qemu_argv(vmlinux, initrd, f"{base} {extra}".strip()),
                                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            wall = uptime = None
            for line in qemu.stdout:
                if "plain-ready" in line:
                    wall = time.monotonic() - start
                    uptime = float(line.split("uptime")[1].split()[0])
                    break
            qemu.kill()
            qemu.wait()
            if wall is None:
                raise SystemExit(f"{name}: QEMU exited before the init's line")
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
            results[name].append((wall, cpu, uptime))
            print(f"round {r} {name}: wall {wall:.3f} s, QEMU CPU {cpu:.3f} s, guest uptime at /init {uptime:.2f} s, "
                  f"load {open('/proc/loadavg').read().split()[0]}", flush=True)
finally:
    shutil.rmtree(os.path.dirname(initrd))
for name, samples in results.items():
    w, c, u = ([s[i] for s in samples] for i in range(3))
    print(f"{name:24s} wall p50 {statistics.median(w):.3f} s (min {min(w):.3f}) | QEMU CPU p50 {statistics.median(c):.3f} s "
          f"(min {min(c):.3f}) | guest uptime at /init p50 {statistics.median(u):.2f} s (min {min(u):.2f})")
