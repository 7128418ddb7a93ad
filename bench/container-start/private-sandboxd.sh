#!/usr/bin/env bash
# Runs COMMAND beside a private sandboxd of this tree (bench/sandboxd's build: `dotnet build bench/sandboxd -c Release`)
# with a warm container pool, $SANDBOX_SOCKET pointing at it; stops the daemon and removes its files afterwards.
#   bench/container-start/private-sandboxd.sh bench/container-start/cli-ab.py 100 NEW-sandbox OLD-sandbox
# POOL (default 4) is the pool's size; SANDBOX_AGENT_DIR (default artifacts/agent) its agent bundle. Its uid ranges
# (UID_BASE, default 0x6C000000) and cgroup parent are its own, apart from bench/sandboxd's and the system daemon's.
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
dll=$here/bench/sandboxd/bin/Release/net10.0/sandboxd.dll
[ -f "$dll" ] || { echo "no $dll: dotnet build bench/sandboxd/Sandbox.Bench.Sandboxd.csproj -c Release" >&2; exit 2; }
export SANDBOX_AGENT_DIR=${SANDBOX_AGENT_DIR:-$here/artifacts/agent}
root=$(mktemp -d /tmp/private-sandboxd-XXXXXX)
cat > "$root/sandboxd.yaml" <<EOF
listen:
  unix_path: $root/sandboxd.sock
  unix_mode: "0600"
tenants:
  - {name: acme, uids: [0], max_sandboxes: 1000, max_memory_mib: 1048576, max_streams: 1000, max_inflight_mib: 8192}
state_dir: $root/state
container:
  cgroup_parent: sandboxd-private-$$
  uid_range_base: $((${UID_BASE:-0x6C000000}))
  uid_range_count: 64
log:
  level: warning
pools:
  max_refill_per_s: 50
  shapes:
    - {name: bench, tier: container, size: ${POOL:-4}, tenant: acme}
EOF
dotnet "$dll" --config "$root/sandboxd.yaml" 2> "$root/sandboxd.log" &
pid=$!
stop() { kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; rm -rf "$root"; }
trap stop EXIT
for _ in $(seq 600); do
  [ -S "$root/sandboxd.sock" ] && break
  kill -0 "$pid" 2>/dev/null || { cat "$root/sandboxd.log" >&2; exit 1; }
  sleep 0.1
done
export SANDBOX_SOCKET=$root/sandboxd.sock
# The pool fills in the background; a few untimed runs make sure it answers before anything is measured.
for _ in 1 2 3; do "$here/artifacts/cli/sandbox" run --trusted -- true; done
sleep "${SETTLE:-3}"
"$@"
