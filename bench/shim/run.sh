#!/usr/bin/env bash
# bench/shim: `ctr run --rm IMAGE id true` through containerd, our shim (container tier) against containerd's runc shim
# (and runc's shim driving runsc, when runsc runs here), p50 over RUNS runs each, in one go, on one private containerd;
# then the shim's PSS/RSS per running container (N detached `sleep` containers per runtime).
#   bench/shim/run.sh [RUNS=50] [N=4]      (root; needs artifacts/shim from scripts/build-shim.sh, hyperfine, python3)
# MEM_ONLY=1 skips the timings.
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
runs=${1:-50}
n=${2:-4}
shim_dir=${SANDBOX_SHIM_DIR:-$here/artifacts/shim}
[ -x "$shim_dir/containerd-shim-sandbox-v2" ] || { echo "bench/shim: run scripts/build-shim.sh first" >&2; exit 1; }
d=$(mktemp -d /tmp/shimbench.XXXXXX); chmod 755 "$d"
ns=bench
ctr="ctr --address $d/c.sock -n $ns"
image=docker.io/library/busybox-bench:latest
cleanup() {
  for t in $($ctr task ls -q 2>/dev/null); do $ctr task kill -s SIGKILL "$t" >/dev/null 2>&1 || true; done
  for t in $($ctr task ls -q 2>/dev/null); do $ctr task delete -f "$t" >/dev/null 2>&1 || true; done
  for c in $($ctr container ls -q 2>/dev/null); do $ctr container rm "$c" >/dev/null 2>&1 || true; done
  [ -f "$d/pid" ] && kill "$(cat "$d/pid")" 2>/dev/null && while kill -0 "$(cat "$d/pid")" 2>/dev/null; do sleep 0.1; done
  # Shims outlive containerd on purpose: end the ones serving this bench's containerd, and whatever a runsc probe
  # left (its shim, runsc-sandbox and runsc-gofer name this run's directory), found by this run's own paths, one pid
  # at a time.
  for pid in $(pgrep -f "containerd-shim-[a-z]*-v2 .*-address $d/c.sock" || true) $(pgrep -f "^runsc-[a-z]* .*$d/" || true); do
    kill -9 "$pid" 2>/dev/null || true
  done
  grep -o " $d[^ ]*" /proc/self/mountinfo | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
  rm -rf "/run/containerd/runc/$ns/b-probe"
  rm -rf "$d"
}
trap cleanup EXIT

# A busybox rootfs and a one-layer OCI image of it (uncompressed layer: diff_id = digest).
r=$d/rootfs; mkdir -p "$r"/{bin,proc,sys,dev,etc,tmp,root,run}
cp /usr/bin/busybox "$r/bin/busybox"
for a in $(/usr/bin/busybox --list); do [ "$a" = busybox ] || ln -sf /bin/busybox "$r/bin/$a"; done
echo 'root:x:0:0:root:/root:/bin/sh' > "$r/etc/passwd"; echo 'root:x:0:' > "$r/etc/group"; chmod -R a+rX "$r"
o=$d/oci; mkdir -p "$o/blobs/sha256"
tar --sort=name --numeric-owner --owner=0 --group=0 -C "$r" -cf "$d/layer.tar" .
blob() { local h; h=$(sha256sum "$1" | cut -d' ' -f1); cp "$1" "$o/blobs/sha256/$h"; echo "$h"; }
layer=$(blob "$d/layer.tar"); lsize=$(stat -c %s "$d/layer.tar")
printf '{"architecture":"amd64","os":"linux","config":{"Env":["PATH=/bin"],"Cmd":["/bin/sh"]},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' "$layer" > "$d/config.json"
config=$(blob "$d/config.json"); csize=$(stat -c %s "$d/config.json")
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:%s","size":%s}]}' "$config" "$csize" "$layer" "$lsize" > "$d/manifest.json"
manifest=$(blob "$d/manifest.json"); msize=$(stat -c %s "$d/manifest.json")
printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"platform":{"architecture":"amd64","os":"linux"},"annotations":{"io.containerd.image.name":"%s","org.opencontainers.image.ref.name":"latest"}}]}' "$manifest" "$msize" "$image" > "$o/index.json"
echo '{"imageLayoutVersion":"1.0.0"}' > "$o/oci-layout"
tar -C "$o" -cf "$d/image.tar" oci-layout index.json blobs

cat > "$d/config.toml" <<TOML
version = 2
root = "$d/root"
state = "$d/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$d/c.sock"
TOML
(PATH=$shim_dir:$PATH setsid containerd --config "$d/config.toml" >"$d/containerd.log" 2>&1 & echo $! >"$d/pid")
$ctr --connect-timeout 20s version >/dev/null
$ctr image import "$d/image.tar" >/dev/null

ours="--runtime io.containerd.sandbox.v2 --label io.sandbox.trusted=true --label io.sandbox.tier=container"
declare -A cmds=(
  [runc]="$ctr run --rm --runtime io.containerd.runc.v2 $image b-runc true"
  [sandbox]="$ctr run --rm $ours $image b-sbx true"
)
if $ctr run --rm --runtime io.containerd.runc.v2 --runc-binary /usr/bin/runsc "$image" b-probe true >/dev/null 2>&1; then
  cmds[runsc]="$ctr run --rm --runtime io.containerd.runc.v2 --runc-binary /usr/bin/runsc $image b-runsc true"
else
  echo "runsc: does not run here (skipped)"
fi
# Whatever the probe left (a failed runsc start leaves its task, container and runc shim behind): the shim is found
# by its id and this run's socket and ended by pid, so it is not counted as a runc shim below.
$ctr task delete -f b-probe >/dev/null 2>&1 || true
$ctr container rm b-probe >/dev/null 2>&1 || true
for pid in $(pgrep -f "containerd-shim-runc-v2 .*-address $d/c.sock" || true); do
  if tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -q -- "-id b-probe "; then kill -9 "$pid" 2>/dev/null || true; fi
done
# runsc may get as far as its sandbox and gofer processes before the probe fails: they name the probe's bundle.
for pid in $(pgrep -f "^runsc-[a-z]* .*$d/state/io.containerd.runtime.v2.task/$ns/b-probe" || true); do kill -9 "$pid" 2>/dev/null || true; done
echo "host: $(nproc) cpus, load $(cut -d' ' -f1-3 /proc/loadavg), containerd $(containerd --version | cut -d' ' -f3)"
for name in runc sandbox runsc; do
  [ -n "${cmds[$name]:-}" ] && [ -z "${MEM_ONLY:-}" ] || continue
  hyperfine -N --warmup 3 --runs "$runs" --export-json "$d/$name.json" "${cmds[$name]}" >/dev/null
  python3 - "$d/$name.json" "$name" <<'PY'
import json, statistics, sys
r = json.load(open(sys.argv[1]))["results"][0]["times"]
print(f"{sys.argv[2]:8s} ctr run --rm true: p50 {statistics.median(r)*1000:7.1f} ms   p90 {sorted(r)[int(len(r)*0.9)]*1000:7.1f} ms   ({len(r)} runs)")
PY
done

# Memory of the shim per running container: N detached containers each, PSS and RSS of the shim processes.
mem() {  # $1 = runtime label, $2 = shim process name, $3.. = run flags
  local label=$1 proc=$2; shift 2
  for i in $(seq 1 "$n"); do $ctr run -d "$@" "$image" "m-$label-$i" sleep 600 >/dev/null; done
  local pss=0 rss=0 count=0
  for pid in $(pgrep -f "^[^ ]*$proc .*-address $d/c.sock"); do
    pss=$((pss + $(awk '/^Pss:/{print $2}' /proc/$pid/smaps_rollup)))
    rss=$((rss + $(awk '/^Rss:/{print $2}' /proc/$pid/smaps_rollup)))
    count=$((count + 1))
  done
  echo "$label: $count shim process(es) for $n containers; per container PSS $((pss / n)) KiB, RSS $((rss / n)) KiB"
  # Where one of ours goes (by mapping), while the others run beside it.
  [ "$proc" != containerd-shim-sandbox-v2 ] || python3 "$here/bench/shim/smaps.py" "$(pgrep -f "^[^ ]*$proc .*-address $d/c.sock" | head -1)"
  for i in $(seq 1 "$n"); do $ctr task kill -s SIGKILL "m-$label-$i" >/dev/null 2>&1 || true; done
  for i in $(seq 1 "$n"); do
    while ! $ctr task ls | grep -q "^m-$label-$i .*STOPPED"; do sleep 0.1; done
    $ctr task delete "m-$label-$i" >/dev/null 2>&1 || true; $ctr container rm "m-$label-$i" >/dev/null
  done
}
mem runc containerd-shim-runc-v2 --runtime io.containerd.runc.v2
# shellcheck disable=SC2086
mem sandbox containerd-shim-sandbox-v2 $ours
# The same N containers opting into one daemon (io.sandbox.shim-group): its memory divided between them.
# shellcheck disable=SC2086
mem sandbox-grouped containerd-shim-sandbox-v2 $ours --label io.sandbox.shim-group=bench
