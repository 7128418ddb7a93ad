#!/usr/bin/env bash
# One hyperfine run, so the machine's noise hits every row alike:
#   `sandbox run -- true` through sandboxd (the CLI end to end), raw `bwrap ... true` (the engine's namespaces, no
#   cgroup, no seccomp, no uid range), `runc run` and `runsc run` (ptrace platform) of a busybox bundle running true.
# Then `sandbox --version` against `runc --version` (the CLI's start-up against a Go binary's).
#   bench/container-start/hyperfine.sh [PATH-TO-sandbox]     (default: artifacts/cli/sandbox; RUNS=50)
# BASELINE=OTHER-sandbox adds another build's CLI to both runs (a before/after in the same run).
# Needs root, a running sandboxd ($SANDBOX_SOCKET or /run/sandbox/sandboxd.sock), hyperfine, runc, runsc,
# busybox-static. The run is --trusted (the default policy gives trusted code the container tier).
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
cli=${1:-$here/artifacts/cli/sandbox}
runs=${RUNS:-50}
work=$(mktemp -d /tmp/sandbox-bench-XXXXXX)
trap 'rm -rf "$work"' EXIT

mkdir -p "$work/bundle/rootfs/bin"
cp /bin/busybox "$work/bundle/rootfs/bin/busybox"
ln -s busybox "$work/bundle/rootfs/bin/true"
runc spec --bundle "$work/bundle"
sed -i 's/"sh"/"\/bin\/true"/; s/"terminal": true/"terminal": false/' "$work/bundle/config.json"

bwrap_true="bwrap --unshare-user --unshare-pid --unshare-ipc --unshare-uts --unshare-net --unshare-cgroup --uid 1000 --gid 1000"
bwrap_true+=" --cap-drop ALL --new-session --die-with-parent --ro-bind /usr /usr --symlink usr/bin /bin --symlink usr/lib /lib"
bwrap_true+=" --symlink usr/lib64 /lib64 --proc /proc --dev /dev --tmpfs /tmp --tmpfs /work --chdir /work -- true"

baseline_run=() baseline_version=()
if [ -n "${BASELINE:-}" ]; then
  baseline_run=(-n "baseline sandbox run -- true" "$BASELINE run --trusted -- true")
  baseline_version=(-n "baseline sandbox --version" "$BASELINE --version")
fi
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
hyperfine -N --warmup 5 --runs "$runs" --export-markdown "$work/run.md" \
  -n "sandbox run -- true (CLI via sandboxd)" "$cli run --trusted -- true" \
  "${baseline_run[@]}" \
  -n "raw bwrap true" "$bwrap_true" \
  -n "runc run" "runc --root $work/runc run --bundle $work/bundle bench" \
  -n "runsc run" "runsc --platform=ptrace --network=none --root $work/runsc run --bundle $work/bundle bench"
hyperfine -N --warmup 10 --runs "$((runs * 2))" \
  -n "sandbox --version" "$cli --version" \
  "${baseline_version[@]}" \
  -n "runc --version" "runc --version"
