#!/usr/bin/env bash
# The container launch chain's drop from root to a sandbox's owner uid, as the engine did it (util-linux setpriv) and
# does it now (util-linux unshare --setgid/--setuid, no namespace; Users/AsHostUser), each followed by /bin/true, and
# /bin/true alone: CPU (task-clock) per start, alternating ROUNDS times, with the load average. Needs root and perf.
#   bench/container-start/launch-chain.sh [REPS=300] [ROUNDS=3]
set -euo pipefail
reps=${1:-300}
rounds=${2:-3}
uid=70000
cpu() { env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin perf stat -r "$reps" -x, -e task-clock "$@" 2>&1 >/dev/null | tail -1 | cut -d, -f1; }
echo "$(date -u +%FT%TZ) load average $(cut -d' ' -f1 /proc/loadavg); CPU ms per start, $reps starts each"
for r in $(seq "$rounds"); do
  t=$(cpu /bin/true)
  s=$(cpu /usr/bin/setpriv --reuid=$uid --regid=$uid --clear-groups -- /bin/true)
  u=$(cpu /usr/bin/unshare --setgid=$uid --setuid=$uid -- /bin/true)
  echo "  round $r: /bin/true $t   setpriv → true $s   unshare --setuid → true $u"
done
