#!/usr/bin/env bash
# Builds the sandbox agent (NativeAOT) and bundles it with the glibc files it loads, so that it runs inside any
# rootfs through its own loader: OUT/sandbox-agent, OUT/sandbox-agent-exec (a held exec's first stage),
# OUT/sandbox-exec (a prepared exec's first stage: freestanding C, no loader), OUT/sandbox-launch (the container tier's
# host-side launch helper, run as root before bwrap: freestanding C too) and OUT/lib/{ld-linux-x86-64.so.2, libc.so.6, ...}.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$here/artifacts/agent}
publish=$here/artifacts/agent-publish

# The same program linked for start-up, for the first stage of every held exec (OUT/sandbox-agent-exec): stored
# hydrated at a fixed address, its pages map from the file instead of being rebuilt and relocated at each start
# (ContainerConfinement.HeldCommand says why it needs no ASLR of its own). Built first: the agent's own build below
# leaves obj/ as a plain publish expects it.
dotnet publish "$here/src/Agent/Sandbox.Agent.csproj" -c Release -r linux-x64 -o "$publish-exec" --nologo -v quiet \
  -p:TreatWarningsAsErrors=true -p:IlcDehydrate=false -p:PositionIndependentExecutable=false >/dev/null
dotnet publish "$here/src/Agent/Sandbox.Agent.csproj" -c Release -r linux-x64 -o "$publish" --nologo -v quiet \
  -p:TreatWarningsAsErrors=true >/dev/null

rm -rf "$out.tmp" && mkdir -p "$out.tmp/lib"
cp "$publish/sandbox-agent" "$out.tmp/sandbox-agent"
cp "$publish-exec/sandbox-agent" "$out.tmp/sandbox-agent-exec"
# The prepared exec's first stage (src/Agent/Native/sandbox-exec.c says why C): static, no libc, raw syscalls. clang,
# the compiler NativeAOT links with (bootstrap installs it; a fresh Debian has no `cc`). No library calls may slip in:
# a memcpy or memset the compiler emits fails the link.
"${CC:-clang}" -O2 -static -nostdlib -ffreestanding -fno-builtin -fno-stack-protector \
  -fno-asynchronous-unwind-tables -Wall -Wextra -Werror -s -o "$out.tmp/sandbox-exec" "$here/src/Agent/Native/sandbox-exec.c"
# The container tier's launch helper (src/Isolation/Native/sandbox-launch.c: the user namespace's holder, and the drop
# to the owner uid with a one-shot's rlimits before bwrap), the same way.
"${CC:-clang}" -O2 -static -nostdlib -ffreestanding -fno-builtin -fno-stack-protector \
  -fno-asynchronous-unwind-tables -Wall -Wextra -Werror -I "$here/src/Agent/Native" -s -o "$out.tmp/sandbox-launch" "$here/src/Isolation/Native/sandbox-launch.c"
# ldd lines: "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)" and "/lib64/ld-linux-x86-64.so.2 (0x...)"
ldd "$publish/sandbox-agent" | awk '/=> \//{print $3} /^[ \t]*\/.*ld-linux/{print $1}' | while read -r lib; do
  cp -L "$lib" "$out.tmp/lib/$(basename "$lib")"
done
[ -f "$out.tmp/lib/ld-linux-x86-64.so.2" ] || { echo "build-agent: the dynamic loader was not found by ldd" >&2; exit 1; }
chmod -R a+rX "$out.tmp"
rm -rf "$out" && mv "$out.tmp" "$out"
echo "agent bundle: $out ($(du -sh "$out" | cut -f1))"
