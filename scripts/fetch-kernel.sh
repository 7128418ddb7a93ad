#!/usr/bin/env bash
# Fetches Debian's guest kernel for the microVM tier into /var/cache/sandbox/kernel/<version>/ without installing it
# on the host, and extracts the uncompressed ELF vmlinux (booted through PVH) from the bzImage's XZ payload.
# Idempotent: does nothing when the cache is complete. Usage: scripts/fetch-kernel.sh [CACHE_DIR]
#   CACHE_DIR/<version>/vmlinux            uncompressed ELF kernel (what QEMU -kernel boots on -M microvm)
#   CACHE_DIR/<version>/lib/modules/...    the package's modules (the engine reads each module's "depends=" itself)
#   CACHE_DIR/current                      symlink to the version in use
set -euo pipefail
cache=${1:-/var/cache/sandbox/kernel}
say() { printf '\033[1m==> %s\033[0m\n' "$*"; }

# The versioned package the metapackage points at, e.g. linux-image-6.1.0-56-amd64.
resolve() { apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/{print $2; exit}'; }
package=$(resolve)
# A machine whose package lists were never fetched knows no kernel package yet. Downloads retry (Acquire::Retries): a
# mirror's hiccup on a clean CI machine would otherwise fail the run before any test.
[ -n "$package" ] || { apt-get -o Acquire::Retries=5 update -qq && package=$(resolve); }
[ -n "$package" ] || { echo "fetch-kernel: cannot resolve linux-image-amd64's kernel package (apt-get update?)" >&2; exit 1; }
version=${package#linux-image-}
dir=$cache/$version
if [ -f "$dir/vmlinux" ] && [ -d "$dir/lib/modules/$version/kernel" ]; then
  ln -sfn "$version" "$cache/current"
  say "guest kernel $version already cached in $dir"
  exit 0
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/sandbox-kernel.XXXXXX")
trap 'rm -rf "$work"' EXIT
say "downloading $package (not installed on the host)"
(cd "$work" && apt-get -o Acquire::Retries=5 download "$package")
say "unpacking"
dpkg-deb -x "$work"/"$package"_*.deb "$work/root"
bz=$work/root/boot/vmlinuz-$version
[ -f "$bz" ] || { echo "fetch-kernel: $bz not in the package" >&2; exit 1; }

# The bzImage's payload is an XZ stream (magic FD 37 7A 58 5A 00); decompress from the first offset that yields an
# ELF file, as the kernel's scripts/extract-vmlinux does. xz stops at the end of the stream; trailing bytes are ignored.
say "extracting vmlinux from the bzImage"
found=0
for offset in $(LC_ALL=C grep -obUaP '\xFD7zXZ\x00' "$bz" | cut -d: -f1); do
  if tail -c +"$((offset + 1))" "$bz" | xz -dc 2>/dev/null > "$work/vmlinux"; [ -s "$work/vmlinux" ] \
     && [ "$(head -c 4 "$work/vmlinux" | od -An -tx1 | tr -d ' \n')" = 7f454c46 ]; then
    found=1; break
  fi
done
[ $found = 1 ] || { echo "fetch-kernel: no XZ payload with an ELF kernel found in $bz" >&2; exit 1; }

mkdir -p "$dir.tmp/lib/modules"
mv "$work/vmlinux" "$dir.tmp/vmlinux"
cp -a "$work/root/lib/modules/$version" "$dir.tmp/lib/modules/$version"
rm -rf "$dir" && mv "$dir.tmp" "$dir"
ln -sfn "$version" "$cache/current"
say "guest kernel $version: $dir ($(du -sh "$dir" | cut -f1))"
