#!/usr/bin/env python3
"""Where one process's memory goes: /proc/PID/smaps summed by mapping (the binary, its .bss, each library, heap,
stacks, other anonymous memory), PSS / RSS / private dirty in KiB, largest first.   bench/shim/smaps.py PID"""
import collections, os, re, sys

pid = sys.argv[1]
rows = collections.defaultdict(collections.Counter)
name, prev_end, prev_path = None, None, None
for line in open(f"/proc/{pid}/smaps"):
    head = re.match(r"^([0-9a-f]+)-([0-9a-f]+) (\S+) \S+ \S+ \S+\s*(.*)$", line)
    if head:
        start, end, perms, path = head.groups()
        if path:
            base = path.rsplit("/", 1)[-1]
        elif start == prev_end and prev_path and not prev_path.startswith("["):
            # Anonymous memory right after a file's mappings is its .bss: for a NativeAOT binary, mostly the type data
            # rehydrated at start-up.
            base = prev_path.rsplit("/", 1)[-1] + " .bss"
        else:
            base = "[anon]"
        name = f"{base} ({'rw' if 'w' in perms else 'r' + ('x' if 'x' in perms else '')})"
        prev_end, prev_path = end, path or (prev_path if start == prev_end else None)
        continue
    key, _, value = line.partition(":")
    if key in ("Pss", "Rss", "Private_Dirty"):
        rows[name][key] += int(value.split()[0])
total = sum(rows.values(), collections.Counter())
threads = len(os.listdir(f"/proc/{pid}/task"))
print(f"pid {pid}: PSS {total['Pss']} KiB, RSS {total['Rss']} KiB, private dirty {total['Private_Dirty']} KiB, {threads} threads")
for n, c in sorted(rows.items(), key=lambda kv: -kv[1]["Pss"])[:12]:
    if c["Rss"]:
        print(f"  {n:44s} PSS {c['Pss']:6d}  RSS {c['Rss']:6d}  private dirty {c['Private_Dirty']:6d}")
