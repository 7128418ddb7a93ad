#!/usr/bin/env python3
"""Interleaved A/B of two `sandbox` CLI builds through one sandboxd, beside raw bwrap: each round runs every command
once, in turn (the two CLIs swapping places each round), so the host's load falls on all alike; prints p50/p95 wall time, the ratio to raw bwrap and the CLI
process's own CPU (user+sys of the child; sandboxd's is not in it).
    SANDBOX_SOCKET=... bench/container-start/cli-ab.py ROUNDS NEW-sandbox OLD-sandbox
The bwrap command is hyperfine.sh's (the engine's namespaces, no cgroup, no seccomp, no uid range).
FLOOR=artifacts/cli-floor/cli-floor (bench/cli-floor, published) adds the floor under the CLI: the same Run call from a
program that does nothing else, and that program's empty start (rows after the CLIs, same interleaving).
OLD_ENV="NAME=VALUE ..." sets variables for the old CLI's runs only (e.g. the same binary with SANDBOX_CLI_HUGE_PAGES=0).
bench/container-start/private-sandboxd.sh runs it beside a private sandboxd."""
import os, resource, statistics, subprocess, sys, time

rounds, new, old = int(sys.argv[1]), sys.argv[2], sys.argv[3]
bwrap = ("bwrap --unshare-user --unshare-pid --unshare-ipc --unshare-uts --unshare-net --unshare-cgroup --uid 1000 --gid 1000"
         " --cap-drop ALL --new-session --die-with-parent --ro-bind /usr /usr --symlink usr/bin /bin --symlink usr/lib /lib"
         " --symlink usr/lib64 /lib64 --proc /proc --dev /dev --tmpfs /tmp --tmpfs /work --chdir /work -- true").split()
commands = {
    "raw bwrap": bwrap,
    "CLI run (new)": [new, "run", "--trusted", "--", "true"],
    "CLI run (old)": [old, "run", "--trusted", "--", "true"],
}
if os.environ.get("FLOOR"):
    commands["floor: Run only"] = [os.environ["FLOOR"], "run"]
    commands["floor: empty"] = [os.environ["FLOOR"], "empty"]
old_env = {**os.environ, **dict(v.split("=", 1) for v in os.environ.get("OLD_ENV", "").split())}
wall = {name: [] for name in commands}
cpu = {name: [] for name in commands}
print("load average", " ".join(open("/proc/loadavg").read().split()[:3]))
# The two CLI rows swap places every round: a run right after raw bwrap finds sandboxd's pool refilled, one right after
# another CLI run may find the refill still running beside it.
order = list(commands)
for i in range(rounds):
    for name in (order if i % 2 == 0 else [order[0], order[2], order[1], *order[3:]]):
        argv = commands[name]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        done = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=old_env if name == "CLI run (old)" else None)
        elapsed = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if done.returncode != 0:
            sys.exit(f"{name} failed ({done.returncode}): {done.stderr.decode()[:300]}")
        wall[name].append(elapsed * 1000)
        cpu[name].append((after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime) * 1000)
print("load average", " ".join(open("/proc/loadavg").read().split()[:3]))
base = statistics.median(wall["raw bwrap"])
for name in commands:
    samples = sorted(wall[name])
    p50 = statistics.median(samples)
    p95 = samples[max(0, int(len(samples) * 0.95) - 1)]
    print(f"  {name:16} p50 {p50:7.1f} ms   p95 {p95:7.1f} ms   {p50 / base:5.2f}x raw bwrap   CPU {statistics.mean(cpu[name]):5.1f} ms")
