#!/usr/bin/env bash
# Unpacks Debian bookworm-backports' QEMU (qemu-system-x86 10.x) into a prefix of its own, default /opt/qemu10,
# WITHOUT installing it or touching the system's QEMU (Debian 12's 7.2 stays the microVM tier's default). The
# microVM tier runs it when configured (sandboxd.yaml `microvm: qemu: /opt/qemu10/usr/bin/qemu-system-x86_64`,
# MicroVmOptions.QemuPath): the VMM jail binds the prefix, QEMU gets the prefix's firmware (-L) and modules
# (QEMU_MODULE_DIR); see docs/microvm-bench.md, thirteenth round, for what it changes.
# The packages come from the mirror this machine's apt already uses (read from its sources; a private sources list
# and package lists under a temporary directory: the system's apt state is not changed). The libraries QEMU 10 links
# are bookworm's (checked with ldd after unpacking). Idempotent: re-run to update.
# Usage: sudo scripts/install-qemu-backports.sh [PREFIX]
set -euo pipefail
prefix=${1:-/opt/qemu10}
say() { printf '\033[1m==> %s\033[0m\n' "$*"; }
[ "$(id -u)" = 0 ] || { echo "install-qemu-backports: run as root (the tier runs QEMU from a root-owned prefix)" >&2; exit 1; }
case $prefix in /usr|/usr/*) echo "install-qemu-backports: $prefix is under /usr: use a prefix of its own (/opt/…)" >&2; exit 1;; esac

# The Debian mirror apt uses now: deb822 (URIs:) or one-line (deb URL suite …) sources.
mirror=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '/^URIs:/{for(i=2;i<=NF;i++) if ($i !~ /security/) {print $i; exit}}')
[ -n "$mirror" ] || mirror=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
  | awk '$1=="deb" && $0 !~ /security/ {for(i=2;i<=NF;i++) if ($i ~ /^[a-z]+:\/\//) {print $i; exit}}')
[ -n "$mirror" ] || { echo "install-qemu-backports: no Debian mirror found in /etc/apt/sources*" >&2; exit 1; }
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
[ -f "$keyring" ] || { echo "install-qemu-backports: $keyring missing (apt-get install debian-archive-keyring)" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/sandbox-qemu-backports.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/lists/partial" "$work/cache/archives/partial" "$work/debs"
echo "deb [signed-by=$keyring] $mirror bookworm-backports main" > "$work/sources.list"
cat > "$work/apt.conf" <<EOF
Dir::Etc::SourceList "$work/sources.list";
Dir::Etc::SourceParts "/dev/null";
Dir::State::Lists "$work/lists";
Dir::Cache "$work/cache";
APT::Sandbox::User "root";
EOF
export APT_CONFIG=$work/apt.conf
say "bookworm-backports from $mirror (private package lists)"
apt-get update -qq
# qemu-system-x86 and its own data (firmware: qboot is the microvm machine's bios-microvm.bin) and common files;
# seabios: backports' (qemu-system-x86 10 asks for >> 1.16.3), only read from the prefix by -M pc machines.
packages=(qemu-system-x86 qemu-system-data qemu-system-common seabios)
(cd "$work/debs" && apt-get download "${packages[@]}")
version=$(dpkg-deb -f "$work"/debs/qemu-system-x86_*.deb Version)

say "unpacking QEMU $version into $prefix"
rm -rf "$prefix.tmp" && mkdir -p "$prefix.tmp"
for deb in "$work"/debs/*.deb; do dpkg-deb -x "$deb" "$prefix.tmp"; done
missing=$(ldd "$prefix.tmp/usr/bin/qemu-system-x86_64" | awk '/not found/{print $1}')
[ -z "$missing" ] || { echo "install-qemu-backports: libraries missing on this host: $missing (apt-get install them)" >&2; rm -rf "$prefix.tmp"; exit 1; }
"$prefix.tmp/usr/bin/qemu-system-x86_64" --version | head -1
# Root's, writable by no one else: the tier runs this QEMU's jail as root (RootOwnedProgram).
chown -R root:root "$prefix.tmp" && chmod -R go-w "$prefix.tmp" && chmod 0755 "$prefix.tmp"
rm -rf "$prefix" && mv "$prefix.tmp" "$prefix"
say "QEMU $version: $prefix/usr/bin/qemu-system-x86_64 (sandboxd.yaml: microvm: qemu: $prefix/usr/bin/qemu-system-x86_64)"
