#!/usr/bin/env python3
"""Traces the strict profile's workloads (workloads.sh) in real sandboxes and lists the syscalls they make.

Usage: python3 trace_strict.py [--cli PATH] [--profile default] [--keep DIR]
       python3 trace_strict.py --parse LOG [--image sandbox-agent]     (an existing `strace -f --pidns-translation`
       log, e.g. of the E2E suite's Agent-mode tests; --image counts only processes whose execve names it)

Each workload runs as `sandbox run --local --profile PROFILE -- /bin/sh -c COMMAND` under `strace -f
--pidns-translation` (children in the sandbox's PID namespace get host pids). Only what
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


def filtered_syscalls(trace_path: str, image: str | None = None) -> collections.Counter:
    """Syscall names (with counts) made under the filter: see the module comment. With image, only by
    processes whose last execve names it in its path or arguments (the agent runs through its own ld.so), and
    their threads.

    Two passes, because a vfork child's calls come before its parent's clone returns its pid: first find when each
    process comes under the filter (its own install, or its birth from a process already under it), then count."""
    with open(trace_path, encoding="utf-8", errors="replace") as trace:
        lines = trace.readlines()
    installed_at: dict[str, int] = {}
    children: dict[str, list[tuple[int, str]]] = collections.defaultdict(list)
    for i, line in enumerate(lines):
        m = INSTALL.match(line)
        if m:
            installed_at.setdefault(m.group(1), i)
        s = SPAWN.match(line)
        if s and s.group(3) != "0":
            children[s.group(1)].append((i, s.group(4) or s.group(3)))
    confined_from: dict[str, int] = dict(installed_at)
    queue = list(installed_at)
    while queue:
        parent = queue.pop()
        for at, child in children[parent]:
            if at >= confined_from[parent] and child not in confined_from:
                confined_from[child] = 0             # under the filter from its first call
                queue.append(child)
    parent_of = {child: parent for parent, kids in children.items() for _, child in kids}
    images: dict[str, str] = {}
    counts: collections.Counter = collections.Counter()
    for i, line in enumerate(lines):
        m = LINE.match(line)
        if not m:
            continue
        pid = m.group(1)
        if pid not in images and pid in parent_of:
            images[pid] = images.get(parent_of[pid], "")
        e = EXECVE.match(line)
        if e:
            images[pid] = e.group(2)
        if pid in confined_from and i >= confined_from[pid] and m.group(3) \
                and (image is None or image in images.get(pid, "")):
            counts[m.group(3)] += 1                  # a call's start (a "resumed" line is the same call)
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
        run = subprocess.run(["strace", "-f", "-qq", "--pidns-translation", "-o", log, args.cli, "run", "--local", "--profile", args.profile,
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
