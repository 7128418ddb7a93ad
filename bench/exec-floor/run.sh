#!/usr/bin/env bash
# The floor under the container tier's Exec round trip on this host (README "Benchmarks"): spawn and wait for `true`
# (the bench's program: dynamically linked) and for a static no-op, N times each, from a native process.
# usage: bench/exec-floor/run.sh [N]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"${CC:-clang}" -O2 -o "$tmp/floor" "$here/floor.c"
"${CC:-clang}" -static -nostdlib -o "$tmp/noop" "$here/noop.c"
n=${1:-300}
echo "load $(cut -d' ' -f1 /proc/loadavg), $(nproc) CPUs"
"$tmp/floor" "$n" "$(type -P true)"
"$tmp/floor" "$n" "$tmp/noop"
