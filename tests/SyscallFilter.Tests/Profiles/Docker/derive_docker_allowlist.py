#!/usr/bin/env python3
"""Derives docker-default-x86_64.allowed from Docker's default seccomp profile.

Usage: python3 derive_docker_allowlist.py default.json "moby/profiles seccomp/v0.2.3" [SyscallTable.X86_64.g.cs] \
           > docker-default-x86_64.allowed   (run from the repository root)

The input is moby/profiles' seccomp/default.json (vendored in moby/moby). The output lists what that profile
allows a container on x86_64 (amd64) that holds no capabilities, with the argument conditions, the way runc
and libseccomp read it:
  - an entry applies when its includes.arches is empty or names amd64, its includes.caps is empty (no
    capabilities are granted), and its excludes.arches does not name amd64 (excludes.caps never excludes: we
    hold none of them); includes.minKernel is ignored (every kernel we support is newer);
  - names that x86_64 does not have (not in our generated syscall table) are dropped;
  - args on different indexes must all hold; args repeating an index become separate rules (runc splits them).
One line per rule: `name` (allowed whatever the arguments) or `name cond [&& cond]...` with cond one of
`argN == V`, `argN != V`, `argN < V`, `argN <= V`, `argN > V`, `argN >= V`, `argN & M == V`, values in hex,
compared as 64-bit unsigned numbers as libseccomp does. Several lines for one name: any may hold.
"""
import json
import re
import sys

OPS = {"SCMP_CMP_EQ": "==", "SCMP_CMP_NE": "!=", "SCMP_CMP_LT": "<", "SCMP_CMP_LE": "<=",
       "SCMP_CMP_GT": ">", "SCMP_CMP_GE": ">="}


def condition(arg: dict) -> str:
    op = arg["op"]
    if op == "SCMP_CMP_MASKED_EQ":
        return f"arg{arg['index']} & {arg['value']:#x} == {arg.get('valueTwo', 0):#x}"
    return f"arg{arg['index']} {OPS[op]} {arg['value']:#x}"


def applies(entry: dict) -> bool:
    includes, excludes = entry.get("includes") or {}, entry.get("excludes") or {}
    if includes.get("caps"):
        return False
    if includes.get("arches") and "amd64" not in includes["arches"]:
        return False
    return "amd64" not in (excludes.get("arches") or [])


def rules(args: list) -> list:
    """runc: conditions on one index repeated become one rule each; otherwise one rule with all of them."""
    if not args:
        return [[]]
    indexes = [a["index"] for a in args]
    if len(set(indexes)) == len(indexes):
        return [[condition(a) for a in args]]
    return [[condition(a)] for a in args]


def main() -> None:
    profile_path, source = sys.argv[1], sys.argv[2]
    table_path = sys.argv[3] if len(sys.argv) > 3 else "src/SyscallFilter/Tables/SyscallTable.X86_64.g.cs"
    known = set(re.findall(r'\(\d+, "(\w+)"\)', open(table_path, encoding="utf-8").read()))
    profile = json.load(open(profile_path, encoding="utf-8"))
    if profile["defaultAction"] != "SCMP_ACT_ERRNO":
        sys.exit(f"{profile_path}: defaultAction {profile['defaultAction']}: expected SCMP_ACT_ERRNO")
    lines: list[str] = []
    for entry in profile["syscalls"]:
        if entry["action"] != "SCMP_ACT_ALLOW" or not applies(entry):
            continue
        for name in entry["names"]:
            if name not in known:
                continue
            for conditions in rules(entry.get("args") or []):
                line = " ".join([name, " && ".join(conditions)]).strip()
                if line not in lines:
                    lines.append(line)
    unconditional = {line for line in lines if " " not in line}
    # an unconditional allow makes conditional allows of the same syscall redundant
    lines = [line for line in lines if " " not in line or line.split(" ")[0] not in unconditional]
    out = sys.stdout
    out.write(f"# What Docker's default seccomp profile ({source}) allows on x86_64 with no capabilities.\n")
    out.write("# Derived by derive_docker_allowlist.py (read it for the rules); regenerate when Docker's profile changes.\n")
    out.write("# One rule a line: `name` (any arguments) or `name cond && cond` (64-bit unsigned compares); several\n")
    out.write("# lines for one name: any may hold. Syscalls absent here are denied by Docker (EPERM).\n")
    for line in sorted(lines, key=lambda l: (l.split(" ")[0], lines.index(l))):
        out.write(line + "\n")


if __name__ == "__main__":
    main()
