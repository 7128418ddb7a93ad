#!/usr/bin/env bash
# `sandbox run --tier microvm -- true` claiming a warm microVM pool through sandboxd, with guest address randomization
# on and off, and optionally against another sandboxd build, all in one run (rounds alternate the daemons, so the host's
# load falls on each alike). Each daemon is a private sandboxd (its own socket, state dir, cgroup parents) with one
# microVM pool of size 1 and no container pool. Before each timed run every daemon's pool is waited for until its VM is
# restored and warmed (one VM cgroup, QEMU quiet), so every run is a hit and no refill runs beside it but its own.
#   bench/microvm-start/pool-claims.sh [RUNS per daemon, default 10]
# Environment: CLI (default artifacts/cli/sandbox), SANDBOXD (default artifacts/sandboxd/sandboxd.dll),
# BASELINE (another build's sandboxd.dll: its two daemons are added), QEMU_B (another QEMU binary, e.g. one installed by
# scripts/install-qemu-backports.sh: two daemons of this build on it are added), SANDBOX_AGENT_DIR (the agent bundle),
# TIMELINE (N: afterwards N claims per daemon through pool-claim-timeline.py).
# Prints per daemon: wall p50/p95/min of the CLI run, QEMU CPU of the daemon's VMs during the run's window (the claimed
# VM's exec, plus whatever refill ran beside it) and per run overall (refill, warm-up and idle ticks included), with
# the 1-minute load average at the start and the end. Needs root (cgroups, QEMU's jail).
set -euo pipefail
runs=${1:-10}
cli=$(realpath "${CLI:-artifacts/cli/sandbox}")
this=$(realpath "${SANDBOXD:-artifacts/sandboxd/sandboxd.dll}")
work=$(mktemp -d /tmp/bench-pool-claims-XXXXXX)
names=() pids=() sockets=() parents=()

cleanup() {
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do
        for _ in $(seq 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
    done
    # What a daemon killed above left (its pooled VMs outlive it, as sandboxd's do): these cgroups are this bench's own.
    for parent in "${parents[@]}"; do
        for vm in /sys/fs/cgroup/cpuacct/"$parent"/*/; do
            [[ -d $vm ]] || continue
            while read -r task; do kill -KILL "$task" 2>/dev/null || true; done < "$vm/cgroup.procs"
        done
        sleep 0.5
        for h in /sys/fs/cgroup/*/; do
            [[ -d $h$parent ]] || continue
            for vm in "$h$parent"/*/; do [[ -d $vm ]] && rmdir "$vm" 2>/dev/null; done
            rmdir "$h$parent" 2>/dev/null || true
        done
    done
    rm -rf "$work"
}
trap cleanup EXIT

start() { # name dll randomization uid-base [qemu]
    local name=$1 dll=$2 aslr=$3 dir=$work/$1 qemu=""
    [[ -n ${5:-} ]] && qemu="  qemu: $5"
    mkdir -p "$dir"
    cat > "$dir/sandboxd.yaml" <<EOF
listen:
  unix_path: $dir/sandboxd.sock
  unix_mode: "0600"
tenants:
  - {name: acme, uids: [0], max_sandboxes: 100, max_memory_mib: 1048576, max_streams: 1000, max_inflight_mib: 8192}
state_dir: $dir/state
container:
  cgroup_parent: bench-pool-$name
  uid_range_base: $4
  uid_range_count: 16
microvm:
  guest_address_randomization: $aslr
$qemu
log:
  level: warning
pools:
  shapes:
    - {name: vm, tier: microvm, size: 1, kvm_only: false}
EOF
    dotnet "$dll" --config "$dir/sandboxd.yaml" > "$dir/log" 2>&1 &
    pids+=($!) names+=("$name") sockets+=("$dir/sandboxd.sock") parents+=("bench-pool-$name-vm")
}

usage() { cat "/sys/fs/cgroup/cpuacct/$1/cpuacct.usage" 2>/dev/null || echo 0; }

# The pool's one VM is up and warmed: exactly one VM cgroup, whose QEMU used < 15 % of a CPU over the last 0.5 s.
wait_full() {
    local parent=/sys/fs/cgroup/cpuacct/$1 a b
    for _ in $(seq 1200); do
        local vms=("$parent"/*/)
        if [[ -d $parent && ${#vms[@]} -eq 1 && -d ${vms[0]} ]]; then
            a=$(cat "${vms[0]}cpuacct.usage" 2>/dev/null || echo 0); sleep 0.5
            b=$(cat "${vms[0]}cpuacct.usage" 2>/dev/null || echo 0)
            (( b > a && b - a < 75000000 )) && return 0
        else
            sleep 0.5
        fi
    done
    echo "pool of $1 did not fill in 10 min" >&2; return 1
}

start aslr "$this" true $((0x7B000000))
start norandmaps "$this" false $((0x7B100000))
if [[ -n ${BASELINE:-} ]]; then
    start aslr-baseline "$(realpath "$BASELINE")" true $((0x7B200000))
    start norandmaps-baseline "$(realpath "$BASELINE")" false $((0x7B300000))
fi
if [[ -n ${QEMU_B:-} ]]; then
    start aslr-qemu-b "$this" true $((0x7B400000)) "$(realpath "$QEMU_B")"
    start norandmaps-qemu-b "$this" false $((0x7B500000)) "$(realpath "$QEMU_B")"
fi
for i in "${!names[@]}"; do wait_full "${parents[$i]}"; done
# One untimed claim each first: a daemon's first Run pays its JIT, policy compilation and first connections.
for i in "${!names[@]}"; do SANDBOX_SOCKET=${sockets[$i]} "$cli" run --tier microvm -- true; done
for i in "${!names[@]}"; do wait_full "${parents[$i]}"; done
echo "$(date -u +%FT%TZ) load $(cut -d' ' -f1 /proc/loadavg), $(nproc) CPUs, $runs runs per daemon"
declare -A start_usage
for i in "${!names[@]}"; do start_usage[$i]=$(usage "${parents[$i]}"); : > "$work/${names[$i]}.times"; done
for r in $(seq "$runs"); do
    for k in "${!names[@]}"; do
        i=$(( (k + r) % ${#names[@]} ))
        # Every daemon's pool full and quiet: no refill of another daemon runs beside the timed one either.
        for j in "${!names[@]}"; do wait_full "${parents[$j]}"; done
        u0=$(usage "${parents[$i]}"); t0=$(date +%s%N)
        SANDBOX_SOCKET=${sockets[$i]} "$cli" run --tier microvm -- true
        t1=$(date +%s%N); u1=$(usage "${parents[$i]}")
        echo "$(( (t1 - t0) / 1000 )) $(( (u1 - u0) / 1000 ))" >> "$work/${names[$i]}.times"
    done
done
echo "$(date -u +%FT%TZ) load $(cut -d' ' -f1 /proc/loadavg)"
for i in "${!names[@]}"; do
    total=$(( $(usage "${parents[$i]}") - ${start_usage[$i]} ))
    cpu50=$(cut -d' ' -f2 "$work/${names[$i]}.times" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')
    cut -d' ' -f1 "$work/${names[$i]}.times" | sort -n | awk -v name="${names[$i]}" -v total="$total" -v cpu50="$cpu50" '
        { wall[NR] = $1 }
        END {
            n = NR; p95 = int(n * 0.95); if (p95 < n * 0.95) p95++
            printf "%-20s wall p50 %6.1f ms  p95 %6.1f  min %6.1f | QEMU CPU in the run p50 %5.1f ms | per run overall %6.1f ms (n=%d)\n",
                name, wall[int((n + 1) / 2)] / 1000, wall[p95] / 1000, wall[1] / 1000, cpu50 / 1000, total / n / 1e6, n }'
done
# TIMELINE=N: then N claims per daemon with bench/microvm-start/pool-claim-timeline.py (where the wall time goes).
if [[ ${TIMELINE:-0} -gt 0 ]]; then
    for i in "${!names[@]}"; do
        echo "${names[$i]}:"
        python3 "$(dirname "$0")/pool-claim-timeline.py" "${sockets[$i]}" "${parents[$i]}" "$TIMELINE" "$cli"
    done
fi
