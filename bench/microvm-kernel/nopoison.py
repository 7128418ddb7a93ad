#!/usr/bin/env python3
"""An experiment, not a kernel to boot in production: copies a minimal-kernel vmlinux and replaces the byte-wise
`rep stosb` (f3 aa) with which free_reserved_area poisons each freed page by two NOPs, so a boot frees its init memory
without poisoning it: the bound of what a memset with fewer stores (an -O2 build) can win there.
Usage: bench/microvm-kernel/nopoison.py VMLINUX SYSTEM_MAP OUT (SYSTEM_MAP of the same build)."""
import subprocess, sys

vmlinux, system_map, out = sys.argv[1:4]
start = next(int(l.split()[0], 16) for l in open(system_map) if l.split()[2:] == ["free_reserved_area"])
symbols = sorted(int(l.split()[0], 16) for l in open(system_map))
end = next(a for a in symbols if a > start)
dis = subprocess.run(["objdump", "-d", vmlinux, f"--start-address={start:#x}", f"--stop-address={end:#x}"],
                     capture_output=True, text=True, check=True).stdout
sites = [int(l.split(":")[0], 16) for l in dis.splitlines() if "\tf3 aa " in l and "rep stos %al" in l]
if len(sites) != 1:
    raise SystemExit(f"expected one rep stosb in free_reserved_area, found {len(sites)}")
sections = subprocess.run(["readelf", "-SW", vmlinux], capture_output=True, text=True, check=True).stdout
text = next(l.split("]")[1].split() for l in sections.splitlines() if " .text " in l)
offset = int(text[3], 16) + sites[0] - int(text[2], 16)
image = bytearray(open(vmlinux, "rb").read())
assert image[offset:offset + 2] == b"\xf3\xaa"
image[offset:offset + 2] = b"\x90\x90"
open(out, "wb").write(image)
print(f"{out}: rep stosb at {sites[0]:#x} (file offset {offset:#x}) replaced by two NOPs")
