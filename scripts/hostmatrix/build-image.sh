#!/usr/bin/env bash
# Builds (or finds cached) the host-matrix guest's root disk: a small Debian bookworm root filesystem made with
# mmdebstrap from this machine's configured apt mirror, as an ext4 image (rootfs.ext4, label "hostmatrix"), with a
# unit that runs the payload disk at boot. Prints the image directory on stdout (progress on stderr).
#   scripts/hostmatrix/build-image.sh            # cache: /var/cache/sandbox/hostmatrix/<recipe digest>/
# The cache key is a digest of this recipe (this script and the guest unit), so a changed recipe
# builds a new image; the build happens in a temp dir renamed into place, so an interrupted build leaves no half image.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
say() { printf '\033[1m==> hostmatrix: %s\033[0m\n' "$*" >&2; }
die() { echo "hostmatrix: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "build-image: run as root (mmdebstrap in root mode)"

cache_root=${SANDBOX_HOSTMATRIX_CACHE:-/var/cache/sandbox/hostmatrix}
for tool in mmdebstrap mkfs.ext4; do command -v $tool >/dev/null || die "$tool is missing (apt-get install mmdebstrap e2fsprogs)"; done

# What goes into the guest; busybox-static is the initramfs's shell (build-initramfs.sh takes it from the image).
packages=systemd,systemd-sysv,bubblewrap,util-linux,procps,libstdc++6,libssl3,ca-certificates,busybox-static
image_mib=2048

digest=$(cat "$0" "$here/guest/hostmatrix-payload.service" | sha256sum | cut -c1-16)
dir=$cache_root/$digest
if [ -f "$dir/rootfs.ext4" ]; then
  echo "$dir"; exit 0
fi

# The Debian mirror this machine is configured with (deb822 .sources or one-line .list), for suite bookworm.
mirror_of_host() {
  local f
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    awk 'BEGIN{RS=""; FS="\n"} {u=""; s=""; for(i=1;i<=NF;i++){ if($i ~ /^URIs:/){sub(/^URIs:[ \t]*/,"",$i); split($i,a," "); u=a[1]} if($i ~ /^Suites:/) s=" "$i" " } if(u!="" && s ~ / bookworm /){print u; exit}}' "$f"
  done
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] || continue
    awk '$1=="deb" { i=2; if($2 ~ /^\[/){ while($i !~ /\]$/) i++; i++ } if($(i+1)=="bookworm"){print $i; exit} }' "$f"
  done
}
mirror=$(mirror_of_host | head -1)
[ -n "$mirror" ] || die "no apt source for Debian bookworm in /etc/apt/sources.list or /etc/apt/sources.list.d"

mkdir -p "$cache_root"
work=$(mktemp -d "$cache_root/.build-XXXXXX")
trap 'rm -rf --one-file-system "$work"' EXIT
started=$(date +%s)
say "building the guest image $digest (Debian bookworm from the host's configured mirror; a few minutes)"
# Root mode: the tree is owned by real root, so mkfs.ext4 -d copies ownership as is.
mmdebstrap --mode=root --variant=apt --include="$packages" \
  --customize-hook='echo hostmatrix > "$1/etc/hostname"' \
  --customize-hook='ln -sf /dev/null "$1/etc/systemd/system/serial-getty@ttyS0.service"' \
  --customize-hook='ln -sf /dev/null "$1/etc/systemd/system/getty@tty1.service"' \
  --customize-hook='mkdir -p "$1/mnt/payload"' \
  --customize-hook="install -m 0644 '$here/guest/hostmatrix-payload.service' \"\$1/etc/systemd/system/\"" \
  --customize-hook='ln -sf /etc/systemd/system/hostmatrix-payload.service "$1/etc/systemd/system/multi-user.target.wants/hostmatrix-payload.service"' \
  --customize-hook='rm -rf "$1/var/cache/apt/archives"/*.deb "$1/var/lib/apt/lists"/*_Packages' \
  bookworm "$work/rootfs" "$mirror" 2>&1 | sed -u 's/^/  mmdebstrap: /' >&2

say "writing the ext4 image (${image_mib} MiB, sparse)"
# Its stdout goes to stderr: this script's stdout is the image directory alone (mkfs says "Creating regular file").
mkfs.ext4 -q -F -L hostmatrix -d "$work/rootfs" "$work/rootfs.ext4" "${image_mib}M" >&2
rm -rf --one-file-system "$work/rootfs"
echo "$mirror" > "$work/mirror"
echo "$(( $(date +%s) - started ))" > "$work/build-seconds"
# Rename into place: readers only ever see a complete image.
chmod 0755 "$work"
mv -T "$work" "$dir" 2>/dev/null || rm -rf --one-file-system "$work"
trap - EXIT
say "image ready in $(cat "$dir/build-seconds") s: $dir"
echo "$dir"
