#!/usr/bin/env python3
"""Traces the strict profile's workloads (workloads.sh) in real sandboxes and lists the syscalls they make.

Usage: python3 trace_strict.py [--cli PATH] [--profile default] [--keep DIR]
       python3 trace_strict.py --parse LOG [--image sandbox-agent]     (an existing `strace -f -q --pidns-translation`
       log, e.g. of the E2E suite's Agent-mode tests; --image counts only processes whose execve names it)

Each workload runs as `sandbox run --local --profile PROFILE -- /bin/sh -c COMMAND` under `strace -f -q
--pidns-translation` (children in the sandbox's PID namespace get host pids; -q, not -qq, keeps the exit lines). Only what
runs under the seccomp filter counts: the process that installs it (bwrap's child, prctl(PR_SET_SECCOMP) or
seccomp(SECCOMP_SET_MODE_FILTER)) from that call on, and every process it or they start afterwards. Denied calls
are counted too (strace shows the attempt), so trace with `default` to see what programs try before any fallback.
Prints, per syscall, the workloads that made it; then the union.
"""
import argparse
import collections
import os
import re
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
LINE = re.compile(r"^(\d+) +(?:<\.\.\. (\w+) resumed>|(\w+)\()")
# with --pidns-translation a child started inside the sandbox's PID namespace reads "= 2 /* 28511 in strace's PID NS */"
SPAWN = re.compile(r"^(\d+) +(?:<\.\.\. )?(clone3?|fork|vfork)\b.*= (\d+)(?: /\* (\d+) in strace's PID NS \*/)?$")
INSTALL = re.compile(r"^(\d+) +(?:prctl\(PR_SET_SECCOMP|seccomp\(SECCOMP_SET_MODE_FILTER)")
EXECVE = re.compile(r'^(\d+) +execve\((.*)')
EXIT = re.compile(r"^(\d+) +\+\+\+ (?:exited|killed)")


def filtered_syscalls(trace_path: str, image: str | None = None) -> collections.Counter:
    """Syscall names (with counts) made under the filter: see the module comment. With image, only by
    processes whose last execve names it in its path or arguments (the agent runs through its own ld.so), and
    their threads.

    A pid's lines are split into process lifetimes at its "+++ exited/killed" lines (pids are reused in long
    traces). A lifetime is under the filter from its own install on, or from its start when a process under the
    filter started it; the child is found by the lifetime that spans the spawn line, because a vfork child's calls
    come before its parent's clone returns its pid."""
    with open(trace_path, encoding="utf-8", errors="replace") as trace:
        lines = trace.readlines()
    lifetime_of: list[tuple[str, int] | None] = []      # per line: (pid, lifetime number)
    ends: dict[str, list[int]] = collections.defaultdict(list)
    for i, line in enumerate(lines):
        m = re.match(r"^(\d+) ", line)
        if not m:
            lifetime_of.append(None)
            continue
        pid = m.group(1)
        lifetime_of.append((pid, len(ends[pid])))
        if EXIT.match(line):
            ends[pid].append(i)

    def lifetime_at(pid: str, i: int) -> tuple[str, int]:
        return pid, sum(1 for e in ends[pid] if e < i)

    start: dict[tuple[str, int], int] = {}              # lifetime -> first line under the filter
    spawns: dict[tuple[str, int], list[tuple[int, str]]] = collections.defaultdict(list)
    for i, line in enumerate(lines):
        if INSTALL.match(line):
            start.setdefault(lifetime_of[i], i)
        s = SPAWN.match(line)
        if s and s.group(3) != "0":
            spawns[lifetime_of[i]].append((i, s.group(4) or s.group(3)))
    queue = list(start)
    while queue:
        parent = queue.pop()
        for at, child_pid in spawns[parent]:
            child = lifetime_at(child_pid, at)
            if at >= start[parent] and child not in start:
                start[child] = 0                         # under the filter from its first call
                queue.append(child)
    parent_of = {(child_pid, at): parent for parent, kids in spawns.items() for at, child_pid in kids}
    parents = {lifetime_at(child_pid, at): parent for (child_pid, at), parent in parent_of.items()}
    images: dict[tuple[str, int], str] = {}
    counts: collections.Counter = collections.Counter()
    for i, line in enumerate(lines):
        m = LINE.match(line)
        if not m:
            continue
        life = lifetime_of[i]
        if life not in images and life in parents:
            images[life] = images.get(parents[life], "")
        e = EXECVE.match(line)
        if e:
            images[life] = e.group(2)
        if life in start and i >= start[life] and m.group(3) and (image is None or image in images.get(life, "")):
            counts[m.group(3)] += 1                      # a call's start (a "resumed" line is the same call)
    return counts


def workloads() -> list[tuple[str, str]]:
    out = subprocess.run([os.path.join(HERE, "workloads.sh")], check=True, capture_output=True, text=True).stdout
    return [tuple(line.split("\t", 1)) for line in out.splitlines() if line.strip()]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cli", default="/work/main/artifacts/cli/sandbox")
    parser.add_argument("--profile", default="default")
    parser.add_argument("--keep", help="directory for the raw strace logs")
    parser.add_argument("--parse", help="only list the syscalls in this existing log")
    parser.add_argument("--image", help="with --parse: only processes running this executable")
    args = parser.parse_args()
    if args.parse:
        for syscall, count in sorted(filtered_syscalls(args.parse, args.image).items()):
            print(f"{syscall}\t{count}")
        return
    keep = args.keep or tempfile.mkdtemp(prefix="strict-trace-")
    os.makedirs(keep, exist_ok=True)
    by_syscall: dict[str, set[str]] = collections.defaultdict(set)
    for name, command in workloads():
        log = os.path.join(keep, f"{name}.strace")
        run = subprocess.run(["strace", "-f", "-q", "--pidns-translation", "-o", log, args.cli, "run", "--local", "--profile", args.profile,
                              "--", "/bin/sh", "-c", command], capture_output=True, text=True, timeout=300)
        calls = filtered_syscalls(log)
        status = "ok" if run.returncode == 0 else f"exit {run.returncode}: {run.stderr.strip()[-200:]}"
        print(f"{name}: {len(calls)} syscalls, {status}", file=sys.stderr)
        for syscall in calls:
            by_syscall[syscall].add(name)
    for syscall in sorted(by_syscall):
        print(f"{syscall}\t{len(by_syscall[syscall])}\t{','.join(sorted(by_syscall[syscall]))}")
    print(f"# {len(by_syscall)} syscalls; logs in {keep}", file=sys.stderr)


if __name__ == "__main__":
    main()
