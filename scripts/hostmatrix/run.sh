#!/usr/bin/env bash
# The guest-VM host matrix: boots the Debian guest (scripts/hostmatrix/build-image.sh) under QEMU with systemd as PID 1
# and the unified cgroup v2 hierarchy, installs the project inside as the README says (prebuilt artifacts, no build in
# the guest) and runs the scenarios of scripts/hostmatrix/guest/scenarios.sh; everything the guest prints comes out
# here, results as "@@hostmatrix pass|fail NAME" lines. Exit 0 when every scenario passed.
#   scripts/hostmatrix/run.sh [smoke|full]        (default: smoke)
# Environment: SANDBOX_HOSTMATRIX_ARTIFACTS (default: the repo's artifacts/, where scripts/bootstrap.sh builds the
# NativeAOT `sandbox` command in cli/ and the agent in agent/), SANDBOX_HOSTMATRIX_TIMEOUT_S (default 1200 s for
# smoke, 2400 s for full), SANDBOX_HOSTMATRIX_MEMORY_MIB (default 1536).
set -euo pipefail
# One block, parsed before anything runs: editing this file while a run is under way cannot change that run.
{
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
say() { printf '\033[1m==> hostmatrix: %s\033[0m\n' "$*" >&2; }
die() { echo "hostmatrix: $*" >&2; exit 2; }
mode=${1:-smoke}
case "$mode" in smoke|full) ;; *) die "unknown mode '$mode': accepted are smoke, full" ;; esac
[ "$(id -u)" = 0 ] || die "run as root"
command -v qemu-system-x86_64 >/dev/null || die "qemu-system-x86_64 is missing (apt-get install qemu-system-x86)"
artifacts=${SANDBOX_HOSTMATRIX_ARTIFACTS:-$repo/artifacts}
# Bounds under TCG on a busy 2-core machine (docs/host-matrix.md has the measured times).
if [ "$mode" = full ]; then timeout_s=${SANDBOX_HOSTMATRIX_TIMEOUT_S:-2400}; else timeout_s=${SANDBOX_HOSTMATRIX_TIMEOUT_S:-1200}; fi
memory_mib=${SANDBOX_HOSTMATRIX_MEMORY_MIB:-1536}
kernel_dir=${SANDBOX_KERNEL_DIR:-/var/cache/sandbox/kernel/current}
for f in cli/sandbox agent/sandbox-agent; do
  [ -x "$artifacts/$f" ] || die "no $artifacts/$f: build it first (scripts/bootstrap.sh --no-install)"
done

image=$("$here/build-image.sh")

# sandboxd self-contained (the guest has no .NET) and ReadyToRun: under TCG every JIT-compiled method costs.
# Published again only when a source it is built from (src, proto, the embedded policies, build props) is newer
# than the last publish: even a no-op publish takes minutes on a busy machine.
published=$artifacts/hostmatrix/sandboxd.published
if [ ! -f "$published" ] || [ -n "$(find "$repo/src" "$repo/proto" "$repo/policies" "$repo"/Directory.*.props "$repo/global.json" \( -name bin -o -name obj \) -prune -o -type f -newer "$published" -print -quit)" ]; then
  say "publishing sandboxd self-contained (ReadyToRun) for linux-x64 into $artifacts/hostmatrix/sandboxd"
  mkdir -p "$artifacts/hostmatrix" && rm -f "$published" && touch "$published.new"
  DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 dotnet publish "$repo/src/SandboxApi/Sandbox.SandboxApi.csproj" \
    -c Release -r linux-x64 --self-contained -p:PublishReadyToRun=true -o "$artifacts/hostmatrix/sandboxd" --nologo -v quiet >&2
  mv "$published.new" "$published"
else
  say "sandboxd: $artifacts/hostmatrix/sandboxd is up to date"
fi

work=$(mktemp -d /var/tmp/hostmatrix-run.XXXXXX)
trap 'rm -rf --one-file-system "$work"' EXIT
# The payload disk: the files the README's install uses (scripts, units, config, docs) and the prebuilt artifacts
# where scripts/install-service.sh looks for them, plus the scenario scripts.
say "assembling the payload disk"
p=$work/payload
mkdir -p "$p/src/artifacts"
cp -r "$repo/scripts" "$repo/systemd" "$repo/config" "$repo/docs" "$repo/README.md" "$p/src/"
cp -r "$artifacts/hostmatrix/sandboxd" "$p/src/artifacts/sandboxd"
cp -r "$artifacts/agent" "$p/src/artifacts/agent"
mkdir -p "$p/src/artifacts/cli" && cp "$artifacts/cli/sandbox" "$p/src/artifacts/cli/sandbox"
[ ! -d "$artifacts/shim" ] || cp -r "$artifacts/shim" "$p/src/artifacts/shim"
cp "$here/guest/guest-main.sh" "$here/guest/scenarios.sh" "$p/"
echo "$mode" > "$p/mode"
mib=$(( $(du -sm "$p" | cut -f1) + 64 ))
"$here/build-initramfs.sh" "$image" "$work/initrd.img"
mkfs.ext4 -q -F -L hmpayload -d "$p" "$work/payload.ext4" "${mib}M"
rm -rf "$p"

tsc_khz=$(awk -F: '/^cpu MHz/ { printf "%d", $2 * 1000; exit }' /proc/cpuinfo)
# The project's tuned command line for Debian's kernel under TCG (docs/architecture.md, microVM tier), plus the
# unified cgroup hierarchy with v1 off and systemd's boot status kept off the console the host parses.
cmdline="console=ttyS0 quiet panic=-1 reboot=t cryptomgr.notests tsc=reliable tsc_early_khz=$tsc_khz rcupdate.rcu_expedited=1 audit=0 nokaslr systemd.unified_cgroup_hierarchy=1 cgroup_no_v1=all systemd.show_status=0"
say "booting the guest ($mode; TCG, ${memory_mib} MiB, timeout ${timeout_s} s)"
ms_since() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }
started=$(date +%s%N)
set +e
timeout -k 5 "$timeout_s" qemu-system-x86_64 -nodefaults -no-user-config -nographic -no-reboot \
  -M microvm -accel tcg,tb-size=256 -m "${memory_mib}M" -smp 2 \
  -kernel "$kernel_dir/vmlinux" -initrd "$work/initrd.img" -append "$cmdline" \
  -chardev stdio,id=console,signal=off -serial chardev:console \
  -drive "if=none,id=root,file=$image/rootfs.ext4,format=raw,snapshot=on" -device virtio-blk-device,drive=root \
  -drive "if=none,id=payload,file=$work/payload.ext4,format=raw,readonly=on" -device virtio-blk-device,drive=payload \
  < /dev/null 2>&1 | while IFS= read -r line; do
    line=${line%$'\r'}
    printf '%s\n' "$line" | tee -a "$work/console.log"
    case "$line" in "@@hostmatrix booted"*) echo "@@hostmatrix host: guest up after $(ms_since "$started") ms" ;; esac
  done
qemu_rc=${PIPESTATUS[0]}
set -e
[ "$qemu_rc" = 124 ] && echo "@@hostmatrix host: timed out after ${timeout_s} s"
echo "@@hostmatrix host: guest ran $(ms_since "$started") ms (qemu exit $qemu_rc)"
grep -q '^@@hostmatrix done' "$work/console.log" || { echo "@@hostmatrix host: the guest did not finish its scenarios"; exit 1; }
! grep -q '^@@hostmatrix fail' "$work/console.log"
exit
}
