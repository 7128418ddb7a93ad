#!/usr/bin/env python3
"""Sets our compiler's BPF beside libseccomp's for a built-in profile: program length, and instructions executed per
allowed syscall (each syscall the profile allows with all arguments 0).

Usage: python3 compare.py SANDBOX_CLI [default|strict ...]      (run from the repository root; needs strace,
       libseccomp-dev and cc. The CLI must be built from this tree, so that it embeds these profiles.)

Our program is the one a real sandbox installs: `strace -v` decodes the filter bwrap hands to prctl(PR_SET_SECCOMP)
during `SANDBOX_CLI run --local --profile NAME -- /bin/true`. libseccomp's comes from libseccomp_build.c fed the same
rules, as runc would load our exported OCI JSON: rules whose action is the default action are dropped (libseccomp
refuses them; so ioctl loses its TIOCSTI/TIOCLINUX checks there, which only makes libseccomp's program smaller),
with libseccomp's default optimisation (what runc and Docker get) and with its binary tree
(SCMP_FLTATR_CTL_OPTIMIZE=2). The script reports any syscall the two programs decide differently with zero args.
Both programs run in the same classic-BPF interpreter below.
"""
import errno
import os
import re
import statistics
import subprocess
import sys
import tempfile

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "../../../.."))
ALLOW = 0x7FFF0000
OPS = {"ne": 1, "lt": 2, "le": 3, "eq": 4, "ge": 5, "gt": 6, "masked_eq": 7}


def constants() -> tuple[dict[str, int], dict[str, int]]:
    text = open(os.path.join(ROOT, "src/SyscallFilter/Loading/ProfileConstants.cs"), encoding="utf-8").read()
    pairs = {k: int(v, 0) for k, v in re.findall(r'\["(\w+)"\] = (0x[0-9a-fA-F]+|\d+)', text)}
    errnos = {k: v for k, v in pairs.items() if k.startswith("E")}
    return errnos, pairs


def table() -> dict[str, int]:
    text = open(os.path.join(ROOT, "src/SyscallFilter/Tables/SyscallTable.X86_64.g.cs"), encoding="utf-8").read()
    return {name: int(nr) for nr, name in re.findall(r'\((\d+), "(\w+)"\)', text)}


def action(text: str, errnos: dict[str, int]) -> int:
    if text == "allow":
        return ALLOW
    m = re.fullmatch(r"errno\((\w+)\)", text)
    if m:
        return 0x50000 | (errnos[m.group(1)] if m.group(1) in errnos else int(m.group(1), 0))
    return {"kill_process": 0x80000000, "kill_thread": 0, "trap": 0x30000, "log": 0x7FFC0000}[text]


def number(text, names: dict[str, int]) -> int:
    return sum(names[p.strip()] if p.strip() in names else int(str(p).strip(), 0) for p in str(text).split("|")) \
        if isinstance(text, str) else int(text)


def libseccomp_rules(profile: dict) -> str:
    errnos, names = constants()
    nrs = table()
    default = action(profile["default_action"], errnos)
    lines = [f"default {default:#x}"]
    for rule in profile["rules"]:
        if action(rule["action"], errnos) == default:
            continue                     # libseccomp refuses these (EACCES); runc drops them the same way
        conds = []
        for a in rule.get("args", []):
            value = number(a["value"], names)
            if a["op"] == "masked_eq":
                conds.append(f"{a['index']} 7 {number(a['mask'], names):#x} {value:#x}")
            else:
                conds.append(f"{a['index']} {OPS[a['op']]} {value:#x} 0")
        for name in rule["names"]:
            lines.append(" ".join([f"rule {nrs[name]} {action(rule['action'], errnos):#x}", *conds]))
    return "\n".join(lines) + "\n"


def libseccomp_program(profile: dict, optimize: int) -> list[tuple[int, int, int, int]]:
    binary = os.path.join(tempfile.gettempdir(), "libseccomp_build")
    subprocess.run(["cc", "-O2", "-o", binary, os.path.join(HERE, "libseccomp_build.c"), "-lseccomp"], check=True)
    raw = subprocess.run([binary, str(optimize)], input=libseccomp_rules(profile).encode(), capture_output=True,
                         check=True).stdout
    return [(int.from_bytes(raw[i:i + 2], "little"), raw[i + 2], raw[i + 3], int.from_bytes(raw[i + 4:i + 8], "little"))
            for i in range(0, len(raw), 8)]


CODES = {"BPF_LD": 0x00, "BPF_W": 0x00, "BPF_ABS": 0x20, "BPF_JMP": 0x05, "BPF_K": 0x00, "BPF_JA": 0x00,
         "BPF_JEQ": 0x10, "BPF_JGT": 0x20, "BPF_JGE": 0x30, "BPF_JSET": 0x40, "BPF_RET": 0x06, "BPF_ALU": 0x04,
         "BPF_AND": 0x50}
RETS = {"SECCOMP_RET_KILL_PROCESS": 0x80000000, "SECCOMP_RET_KILL_THREAD": 0, "SECCOMP_RET_KILL": 0,
        "SECCOMP_RET_TRAP": 0x30000, "SECCOMP_RET_ERRNO": 0x50000, "SECCOMP_RET_LOG": 0x7FFC0000,
        "SECCOMP_RET_ALLOW": 0x7FFF0000}


def k_value(text: str) -> int:
    total = 0
    for part in text.split("|"):
        part = part.strip()
        total |= RETS.get(part) if part in RETS else getattr(errno, part, None) if hasattr(errno, part) else int(part, 0)
    return total


def our_program(cli: str, name: str) -> list[tuple[int, int, int, int]]:
    log = os.path.join(tempfile.mkdtemp(prefix="seccomp-compare-"), "strace")
    subprocess.run(["strace", "-f", "-qq", "-v", "-s", "100000", "-e", "trace=prctl", "-o", log, cli, "run", "--local",
                    "--profile", name, "--", "/bin/true"], check=True, capture_output=True)
    text = open(log, encoding="utf-8").read()
    m = re.search(r"PR_SET_SECCOMP, SECCOMP_MODE_FILTER, \{len=(\d+), filter=\[(.*?)\]\}", text)
    program = []
    for kind, body in re.findall(r"BPF_(STMT|JUMP)\(([^)]*)\)", m.group(2)):
        parts = [p.strip() for p in body.split(",")]
        code = sum(CODES[c] for c in parts[0].split("|"))
        if kind == "STMT":
            program.append((code, 0, 0, k_value(parts[1])))
        else:
            program.append((code, int(parts[2], 0), int(parts[3], 0), k_value(parts[1])))
    assert len(program) == int(m.group(1)), f"decoded {len(program)} of {m.group(1)} instructions"
    return program


def run(program, nr: int, args=(0,) * 6, arch: int = 0xC000003E) -> tuple[int, int]:
    """(return value, instructions executed) for seccomp_data {nr, arch, ip 0, args}."""
    data = nr.to_bytes(4, "little") + arch.to_bytes(4, "little") + bytes(8) + b"".join(a.to_bytes(8, "little") for a in args)
    a, pc, executed = 0, 0, 0
    while True:
        code, jt, jf, k = program[pc]
        executed += 1
        if code == 0x20:                                   # ld [k]
            a = int.from_bytes(data[k:k + 4], "little")
        elif code == 0x54:                                 # and #k
            a &= k
        elif code == 0x06:                                 # ret #k
            return k, executed
        elif code == 0x05:                                 # ja
            pc += k
        elif code & 0x07 == 0x05:
            op = code & 0xF0
            taken = {0x10: a == k, 0x20: a > k, 0x30: a >= k, 0x40: a & k != 0}[op]
            pc += jt if taken else jf
        else:
            raise ValueError(f"({pc}) unexpected opcode {code:#x}")
        pc += 1


def main() -> None:
    cli, names = sys.argv[1], sys.argv[2:] or ["default", "strict"]
    nrs = table()
    for name in names:
        profile = yaml.safe_load(open(os.path.join(ROOT, "policies/seccomp", f"{name}.yaml"), encoding="utf-8"))
        programs = {"ours": our_program(cli, name), "libseccomp": libseccomp_program(profile, 1),
                    "libseccomp-tree": libseccomp_program(profile, 2)}
        allowed = [nr for nr in sorted(nrs.values()) if run(programs["ours"], nr)[0] == ALLOW]
        print(f"{name}: {len(allowed)} syscalls allowed with zero arguments")
        for label, program in programs.items():
            disagree = [nr for nr in sorted(nrs.values()) if run(program, nr)[0] != run(programs["ours"], nr)[0]]
            steps = [run(program, nr)[1] for nr in allowed]
            print(f"  {label:16} {len(program):4} instructions; executed per allowed syscall: median "
                  f"{statistics.median(steps):g}, mean {statistics.mean(steps):.1f}, max {max(steps)}"
                  + (f"; decides {len(disagree)} syscalls differently (args 0)" if disagree else ""))


if __name__ == "__main__":
    main()
