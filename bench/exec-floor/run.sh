#!/usr/bin/env bash
# The floor under the container tier's Exec round trip on this host (README "Benchmarks"): spawn and wait for `true`
# (the bench's program: dynamically linked) and for a static no-op, N times each, from a native process; then, given
# an agent bundle (or two, for an A/B), `true` through the bundle's prepared first stage (sandbox-exec) the way the
# agent runs it (stage-floor.c: what a native agent would cost, without sandboxd, IPC, cgroup or namespaces). Rounds
# alternate, so the host's load falls on every line alike.
# usage: sudo bench/exec-floor/run.sh [N] [AGENT-BUNDLE [OTHER-AGENT-BUNDLE]]   (the stage runs as uid 65534: root)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"${CC:-clang}" -O2 -o "$tmp/floor" "$here/floor.c"
"${CC:-clang}" -O2 -o "$tmp/stage-floor" "$here/stage-floor.c"
"${CC:-clang}" -static -nostdlib -o "$tmp/noop" "$here/noop.c"
n=${1:-300}
shift || true
rounds=${ROUNDS:-3}
echo "load $(cut -d' ' -f1 /proc/loadavg), $(nproc) CPUs"
for _ in $(seq "$rounds"); do
  "$tmp/floor" "$n" "$(type -P true)"
  "$tmp/floor" "$n" "$tmp/noop"
  for bundle in "$@"; do
    # Absolute: the stage enters / before its exec, as the agent starts it.
    "$tmp/stage-floor" "$n" "$(realpath "$bundle")/sandbox-exec" "$(type -P true)" 65534 65534
  done
done
echo "load after $(cut -d' ' -f1 /proc/loadavg)"
