#!/usr/bin/env bash
# Egress throughput per tier vs the host: iperf3 (TCP, one stream, client sends) against an iperf3 server this script
# starts on the host, reached two ways:
#   loopback  the host's 127.0.0.1 (from a sandbox: the gateway 10.0.2.2, allowed as --allow 127.0.0.1:PORT)
#   address   the host's own non-loopback IPv4 address (--allow ADDR:PORT): the path any outside server takes
# Usage: bench/network/run.sh [seconds per run, default 5]. Needs root, iperf3, and the sandbox CLI (SANDBOX=path).
set -euo pipefail
duration=${1:-5}
sandbox=${SANDBOX:-sandbox}
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
address=$(ip -4 -o addr show scope global | awk '{print $4}' | cut -d/ -f1 | head -1)

iperf3 -s -p "$port" >/dev/null 2>&1 &
server=$!
trap 'kill $server 2>/dev/null' EXIT
# The server is up once it accepts a connection (no fixed sleep).
until python3 -c "import socket; socket.create_connection(('127.0.0.1', $port), timeout=1).close()" 2>/dev/null; do :; done

gbps() { python3 -c 'import json,sys; print("%.2f" % (json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"] / 1e9))'; }

host_run() { iperf3 -J -c "$1" -p "$port" -t "$duration" | gbps; }
sandbox_run() {
  "$sandbox" run --local --trusted --tier container --timeout "$((duration + 30))s" --allow "$1:$port" -- \
    iperf3 -J -c "$2" -p "$port" -t "$duration" | gbps
}

printf '%-10s %-22s %10s\n' path where Gbit/s
printf '%-10s %-22s %10s\n' loopback host "$(host_run 127.0.0.1)"
printf '%-10s %-22s %10s\n' loopback "container (pasta)" "$(sandbox_run 127.0.0.1 10.0.2.2)"
if [ -n "$address" ]; then
  printf '%-10s %-22s %10s\n' address host "$(host_run "$address")"
  printf '%-10s %-22s %10s\n' address "container (pasta)" "$(sandbox_run "$address" "$address")"
fi
