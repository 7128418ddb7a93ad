#!/usr/bin/env bash
# Builds the host-matrix guest's initramfs: busybox (taken from the guest image, Debian's busybox-static), the guest
# kernel's modules for an ext4 root on virtio-blk over virtio-mmio with their dependencies, and guest/initramfs-init,
# which loads them, mounts the disk labelled "hostmatrix" and hands over to systemd. Seconds to build, so not cached.
#   scripts/hostmatrix/build-initramfs.sh IMAGE_DIR OUT.img
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
die() { echo "hostmatrix: $*" >&2; exit 1; }
image=$1 out=$2
kernel_dir=${SANDBOX_KERNEL_DIR:-/var/cache/sandbox/kernel/current}
kver=$(ls "$kernel_dir/lib/modules" 2>/dev/null | head -1)
[ -n "$kver" ] || die "no modules under $kernel_dir/lib/modules: run scripts/fetch-kernel.sh"
for tool in debugfs cpio gzip; do command -v $tool >/dev/null || die "$tool is missing (apt-get install e2fsprogs cpio)"; done

# Debian builds all of these as modules; their dependencies are added and loaded first. crc32c_generic: ext4's
# metadata checksums ask the crypto API for crc32c, which no "depends=" names.
wanted=(virtio_mmio virtio_blk crc32c_generic ext4)
module_file() {
  local ko
  ko=$(find "$kernel_dir/lib/modules/$kver/kernel" -name "$1.ko" | head -1)
  [ -n "$ko" ] || die "module $1.ko not found under $kernel_dir/lib/modules/$kver"
  echo "$ko"
}
# The "depends=" field of the module's .modinfo section (NUL-separated key=value strings).
module_depends() { tr '\0' '\n' < "$(module_file "$1")" | sed -n 's/^depends=//p' | tr ',' ' '; }
modules=()
add_module() {
  local m=$1 d
  case " ${modules[*]} " in *" $m "*) return ;; esac
  for d in $(module_depends "$m"); do add_module "$d"; done
  modules+=("$m")
}
for m in "${wanted[@]}"; do add_module "$m"; done

tree=$(mktemp -d /var/tmp/hostmatrix-initramfs.XXXXXX)
trap 'rm -rf --one-file-system "$tree"' EXIT
mkdir -p "$tree/bin" "$tree/lib/modules"
debugfs -R "dump /bin/busybox $tree/bin/busybox" "$image/rootfs.ext4" 2>/dev/null
[ -s "$tree/bin/busybox" ] || die "no /bin/busybox in $image/rootfs.ext4 (the image recipe installs busybox-static)"
chmod 0755 "$tree/bin/busybox"
for m in "${modules[@]}"; do
  cp "$(module_file "$m")" "$tree/lib/modules/" && echo "$m.ko" >> "$tree/modules"
done
install -m 0755 "$here/guest/initramfs-init" "$tree/init"
(cd "$tree" && find . | cpio -o -H newc --quiet | gzip -1) > "$out"
