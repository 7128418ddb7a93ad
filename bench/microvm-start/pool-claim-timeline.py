#!/usr/bin/env python3
"""Where a warm-pool microVM claim's wall time goes, seen from the host without touching sandboxd: runs
`sandbox run --tier microvm -- true` against a sandboxd whose microVM pool is full, and polls (every ~1 ms) its VMs'
cgroups (cpuacct.usage, v1) meanwhile. Per run, times from the CLI's start: the claimed VM's QEMU first busy (the exec
reached the guest), last busy (the exec and its output done), the CLI's exit, the claimed VM's cgroup gone (teardown
done) and the refill's cgroup made; and the claimed VM's QEMU CPU until the CLI exited. Prints each one's median.
  bench/microvm-start/pool-claim-timeline.py SOCKET VM_CGROUP_PARENT [RUNS] [CLI]
(VM_CGROUP_PARENT: sandboxd's container.cgroup_parent + "-vm"; bench/microvm-start/pool-claims.sh's daemons use
bench-pool-NAME-vm.) Busy = QEMU used more than 30 % of a CPU since the last poll; an idle guest's periodic tick uses ~6 %."""
import os, statistics, subprocess, sys, time

sock, parent = sys.argv[1], sys.argv[2]
runs = int(sys.argv[3]) if len(sys.argv) > 3 else 8
cli = sys.argv[4] if len(sys.argv) > 4 else "artifacts/cli/sandbox"
root = f"/sys/fs/cgroup/cpuacct/{parent}"


def vms():
    try:
        return {d for d in os.listdir(root) if os.path.isdir(f"{root}/{d}")}
    except FileNotFoundError:
        return set()


def usage(vm):
    try:
        with open(f"{root}/{vm}/cpuacct.usage") as f:
            return int(f.read())
    except (FileNotFoundError, ValueError, OSError):
        return None


def wait_full():
    while True:
        v = vms()
        if len(v) == 1:
            (vm,) = v
            a = usage(vm)
            time.sleep(0.5)
            b = usage(vm)
            if a is not None and b is not None and 0 < b - a < 75_000_000:
                return vm
        else:
            time.sleep(0.5)


rows = []
for _ in range(runs):
    vm = wait_full()
    env = dict(os.environ, SANDBOX_SOCKET=sock)
    last = usage(vm)
    t0 = time.monotonic()
    p = subprocess.Popen([cli, "run", "--tier", "microvm", "--", "true"], env=env)
    ev = {}
    cpu_until_exit = 0
    base = last
    polled = 0.0
    while True:
        now = time.monotonic() - t0
        u = usage(vm)
        if u is not None and last is not None:
            if u - last > 0.3 * (now - polled) * 1e9:
                ev.setdefault("guest busy first", polled)
                ev["guest busy last"] = now
            last = u
        polled = now
        if "cli exit" not in ev and p.poll() is not None:
            ev["cli exit"] = now
            cpu_until_exit = (last - base) / 1e6
        cur = vms()
        if vm not in cur:
            ev.setdefault("claimed VM gone", now)
        if cur - {vm}:
            ev.setdefault("refill cgroup made", now)
        if "cli exit" in ev and "claimed VM gone" in ev and ("refill cgroup made" in ev or now > 20):
            break
        time.sleep(0.001)
    ev["claimed QEMU CPU until exit"] = cpu_until_exit / 1000
    rows.append(ev)

print(f"{time.strftime('%H:%M:%S')} load {open('/proc/loadavg').read().split()[0]}, {runs} runs, seconds from the CLI's start (median):")
for key in ["guest busy first", "guest busy last", "cli exit", "claimed VM gone", "refill cgroup made", "claimed QEMU CPU until exit"]:
    vals = [r[key] for r in rows if key in r]
    if vals:
        print(f"  {key:30s} {statistics.median(vals):7.3f}  (min {min(vals):.3f}, max {max(vals):.3f}, n={len(vals)})")
