#!/usr/bin/env python3
"""Where a plain TCG boot of a guest kernel spends its time: samples the vCPU's RIP every ~5 ms through QMP (HMP
`info registers`, which briefly stops the vCPU) until the busybox init's line, maps each sample to a symbol of the
build's System.map (a PVH-booted vmlinux runs at its link address), prints the most frequent symbols and the top
three per 50 ms of wall time. Usage: bench/microvm-kernel/guest-rip-sample.py VMLINUX SYSTEM_MAP [EXTRA_CMDLINE]"""
import bisect, collections, json, os, shutil, socket, subprocess, sys, tempfile, time
import plain_initrd

vmlinux, system_map = sys.argv[1:3]
extra = sys.argv[3] if len(sys.argv) > 3 else ""
symbols = sorted((int(a, 16), n) for a, t, n in (l.split()[:3] for l in open(system_map)) if t in "tTwW")
addresses = [a for a, _ in symbols]


def symbol(rip):
    i = bisect.bisect_right(addresses, rip) - 1
    return symbols[i][1] if i >= 0 else hex(rip)


initrd = plain_initrd.build()
work = tempfile.mkdtemp(prefix="sandbox-bench-rip-")
qmp_path = os.path.join(work, "qmp")
qemu = subprocess.Popen(plain_initrd.qemu_argv(vmlinux, initrd, f"{plain_initrd.base_cmdline()} {extra}".strip(),
                                               ["-qmp", f"unix:{qmp_path},server=on,wait=off", "-S"]),
                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
try:
    while not os.path.exists(qmp_path):
        time.sleep(0.01)
    sock = socket.socket(socket.AF_UNIX)
    sock.connect(qmp_path)
    qmp = sock.makefile("rw")

    def command(name, **arguments):
        qmp.write(json.dumps({"execute": name, "arguments": arguments} if arguments else {"execute": name}) + "\n")
        qmp.flush()
        while True:
            reply = json.loads(qmp.readline())
            if "return" in reply or "error" in reply:
                return reply

    qmp.readline()
    command("qmp_capabilities")
    os.set_blocking(qemu.stdout.fileno(), False)
    start = time.monotonic()
    command("cont")
    samples, output = [], b""
    while b"plain-ready" not in output and time.monotonic() - start < 120:
        text = command("human-monitor-command", **{"command-line": "info registers"}).get("return", "")
        if (i := text.find("RIP=")) >= 0:
            samples.append((time.monotonic() - start, symbol(int(text[i + 4:i + 20], 16))))
        output += qemu.stdout.read() or b""
        time.sleep(0.004)
    wall = time.monotonic() - start
finally:
    qemu.kill()
    qemu.wait()
    shutil.rmtree(work)
    shutil.rmtree(os.path.dirname(initrd))
print(f"wall {wall:.3f} s to the init's line, {len(samples)} samples, load {open('/proc/loadavg').read().split()[0]}")
for name, count in collections.Counter(n for _, n in samples).most_common(30):
    print(f"{count:5d} {100 * count / len(samples):5.1f}% {name}")
buckets = collections.defaultdict(collections.Counter)
for t, name in samples:
    buckets[int(t / 0.05)][name] += 1
for b in sorted(buckets):
    print(f"{b * 0.05:5.2f} s  " + ", ".join(f"{n}:{c}" for n, c in buckets[b].most_common(3)))
