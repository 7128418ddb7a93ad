#!/usr/bin/env python3
# The CPU of a one-shot sandbox's parts, measured one program at a time (issue 10: what stops 250 Runs/s).
#   bench/container-start/one-shot-parts.py [REPS] [ROUNDS] [--agent DIR]     (as root)
# Each variant runs REPS times per round, the variants interleaved over ROUNDS rounds (the host's load falls on all
# alike). Per run it reports:
#   own   the process's CPU and that of every descendant it reaped (wait4's rusage: bwrap's init and the command
#         included), what a per-process count sees;
#   kthr  the CPU that kernel threads (kworkers: cleanup_net for a network namespace, cgroup and RCU frees) spent
#         meanwhile, from /proc/PID/schedstat of every child of kthreadd, read before a variant's batch and 0.3 s
#         after it (the deferred work finishes in that time), minus what they spent in as long an idle wait — the
#         work a per-process count misses;
#   sirq  the host's softirq time meanwhile (RCU callbacks run there too; 10 ms ticks: only a coarse figure).
# Other engineers' load adds noise to kthr and sirq; only the differences between variants of one run mean anything.
import os, sys, time

args = [a for a in sys.argv[1:] if not a.startswith("--")]
reps = int(args[0]) if args else 100
rounds = int(args[1]) if len(args) > 1 else 3
agent = sys.argv[sys.argv.index("--agent") + 1] if "--agent" in sys.argv else os.environ.get("SANDBOX_AGENT_DIR")

TRUE = "/usr/bin/true"
RAW = ["--ro-bind", "/", "/", "--proc", "/proc", "--dev", "/dev", "--die-with-parent"]
variants = [
    ("idle (0.3 s wait only)", None),
    ("true", [TRUE]),
    ("bwrap --version (loader, libs)", ["/usr/bin/bwrap", "--version"]),
    ("unshare true (no namespace)", ["/usr/bin/unshare", TRUE]),
    ("unshare -m true", ["/usr/bin/unshare", "-m", TRUE]),
    ("unshare -n true", ["/usr/bin/unshare", "-n", TRUE]),
    ("unshare -U true", ["/usr/bin/unshare", "-U", TRUE]),
    ("unshare -ipuf true", ["/usr/bin/unshare", "-i", "-p", "-u", "-f", TRUE]),
    ("unshare -C true", ["/usr/bin/unshare", "-C", TRUE]),
    ("bwrap user,pid,ipc,uts,cgroup (no net)", ["/usr/bin/bwrap", "--unshare-user", "--unshare-pid", "--unshare-ipc",
                                                "--unshare-uts", "--unshare-cgroup", *RAW, TRUE]),
    ("bwrap --unshare-all (+net)", ["/usr/bin/bwrap", "--unshare-all", *RAW, TRUE]),
]
# A sandbox's cgroup on the v1 hierarchies, as CgroupV1.Create and its removal do it: one directory per hierarchy,
# the limits written, then removed (empty). Measured in this process (its own CPU: the syscalls are the work).
CG = "/sys/fs/cgroup"
CG_PARENT = "sandbox-parts-bench"


def cgroup_cycle(hierarchies):
    def cycle(i):
        dirs = [f"{CG}/{h}/{CG_PARENT}/c{i}" for h in hierarchies]
        for d in dirs:
            os.mkdir(d)
        for d, h in zip(dirs, hierarchies):
            if h == "memory":
                write(d, "memory.limit_in_bytes", str(512 << 20))
            elif h == "pids":
                write(d, "pids.max", "258")
            elif h == "cpu":
                write(d, "cpu.cfs_period_us", "100000")
                write(d, "cpu.cfs_quota_us", "100000")
        for d in dirs:
            os.rmdir(d)
    return cycle


def write(d, name, value):
    with open(f"{d}/{name}", "w") as f:
        f.write(value)


V1 = ["memory", "pids", "cpu", "cpuacct", "freezer"]
if all(os.path.isdir(f"{CG}/{h}") for h in V1):
    for h in V1:
        os.makedirs(f"{CG}/{h}/{CG_PARENT}", exist_ok=True)
    variants += [(f"cgroup mkdir+limits+rmdir: {h}", cgroup_cycle([h])) for h in V1]
    variants.append(("cgroup mkdir+limits+rmdir: all 5", cgroup_cycle(V1)))

    # What a v1 kill's freeze costs even with nothing to freeze: FROZEN then THAWED switches the kernel's freezer
    # static key when no other cgroup is frozen, which patches kernel text (the other CPU pays too: not in "own").
    def freeze_thaw(i):
        write(f"{CG}/freezer/{CG_PARENT}", "freezer.state", "FROZEN")
        write(f"{CG}/freezer/{CG_PARENT}", "freezer.state", "THAWED")
    variants.append(("freezer FROZEN+THAWED (empty cgroup)", freeze_thaw))
if agent:
    launch = os.path.join(agent, "sandbox-launch")
    variants.append(("sandbox-launch exec (drop) true", [launch, "exec", "65534", "65534", "--rlimits", "1024", "1073741824", "--", TRUE]))

devnull = os.open("/dev/null", os.O_RDWR)


def kthreads_ns():
    total = 0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat") as f:
                stat = f.read()
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            if ppid != 2 and pid != "2":
                continue
            with open(f"/proc/{pid}/schedstat") as f:
                total += int(f.read().split()[0])
        except (FileNotFoundError, ProcessLookupError):
            pass  # a kworker that ended meanwhile: its time is lost to both readings alike
    return total


def softirq_ms():
    with open("/proc/stat") as f:
        return int(f.readline().split()[7]) * 1000 / os.sysconf("SC_CLK_TCK")


def run(argv, i=0):
    if callable(argv):
        t0 = time.thread_time()
        argv(i)
        return (time.thread_time() - t0) * 1000
    pid = os.posix_spawn(argv[0], argv, {"PATH": "/usr/bin:/bin"},
                         file_actions=[(os.POSIX_SPAWN_DUP2, devnull, 0), (os.POSIX_SPAWN_DUP2, devnull, 1),
                                       (os.POSIX_SPAWN_DUP2, devnull, 2)])
    _, status, ru = os.wait4(pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"{argv} failed: {os.waitstatus_to_exitcode(status)}")
    return (ru.ru_utime + ru.ru_stime) * 1000


results = {name: {"own": 0.0, "kthr": 0.0, "sirq": 0.0, "wall": 0.0, "span": 0.0, "n": 0} for name, _ in variants}
for name, argv in variants:  # one untimed run each: page cache, binaries
    if argv:
        run(argv, reps)
for r in range(rounds):
    for name, argv in variants:
        k0, s0, t0 = kthreads_ns(), softirq_ms(), time.monotonic()
        own = sum(run(argv, i) for i in range(reps)) if argv else 0.0
        wall = time.monotonic() - t0
        time.sleep(0.3)
        res = results[name]
        res["own"] += own
        res["kthr"] += (kthreads_ns() - k0) / 1e6
        res["sirq"] += softirq_ms() - s0
        res["wall"] += wall * 1000
        res["span"] += time.monotonic() - t0
        res["n"] += reps

for h in V1:
    if os.path.isdir(f"{CG}/{h}/{CG_PARENT}"):
        os.rmdir(f"{CG}/{h}/{CG_PARENT}")
with open("/proc/loadavg") as f:
    load = f.read().split()[0]
idle = results[variants[0][0]]
# The kernel threads' and softirq's background rate (others' load, timers) per second of an idle wait, taken off each
# variant for as long as its batches lasted.
kthr_rate, sirq_rate = idle["kthr"] / idle["span"], idle["sirq"] / idle["span"]
print(f"{reps} runs x {rounds} rounds per variant, interleaved; load average {load} (1 min) at the end, {os.cpu_count()} CPUs")
print(f"  {'variant':40} {'own CPU':>9} {'kthreads':>9} {'softirq':>8} {'wall':>8}   (ms per run; kthreads/softirq minus the idle rate)")
for name, _ in variants[1:]:
    res = results[name]
    n = res["n"]
    print(f"  {name:40} {res['own'] / n:9.2f} {(res['kthr'] - kthr_rate * res['span']) / n:9.2f} {(res['sirq'] - sirq_rate * res['span']) / n:8.2f}"
          f" {res['wall'] / n:8.2f}")
