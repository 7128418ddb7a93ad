#!/usr/bin/env bash
# Unpacks Debian bookworm-backports' QEMU (qemu-system-x86 10.x) into a prefix of its own, default /opt/qemu10,
# WITHOUT installing it as a package or touching the system's QEMU (Debian 12's 7.2 stays the host's qemu-system-x86
# for everything else). bootstrap runs it; where /opt/qemu10 holds it, the microVM tier runs it by default
# (MicroVmOptions.QemuPath = QemuInstall.DefaultBinary; sandboxd.yaml `microvm: qemu:` overrides): the VMM jail binds
# the prefix, QEMU gets the prefix's firmware (-L, -bios qboot) and modules (QEMU_MODULE_DIR); docs/microvm-bench.md,
# thirteenth round, for what it changes, docs/architecture.md for why unpacked rather than apt-pinned.
# apt does not upgrade this copy: rerunning the script does (it replaces the prefix when the mirror offers another
# version, and leaves it alone, mtimes and so the tier's snapshot templates included, when it does not).
# The packages come from the mirror this machine's apt already uses (read from its sources; a private sources list
# and package lists under a temporary directory: the system's apt state is not changed). The libraries QEMU 10 links
# are bookworm's (checked with ldd after unpacking).
# Usage: sudo scripts/install-qemu-backports.sh [--check] [PREFIX]
#   --check  only compare: print the installed version and the mirror's; exit 0 when they are the same, 10 when the
#            mirror offers another (or none is installed); nothing is changed.
set -euo pipefail
check=0
[ "${1:-}" = --check ] && { check=1; shift; }
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
Acquire::Retries "1";
Acquire::http::Timeout "30";
EOF
export APT_CONFIG=$work/apt.conf
say "bookworm-backports from $mirror (private package lists)"
apt-get update -qq
# The newest qemu-system-x86 of the private lists (backports only): empty when the suite could not be fetched.
offered=$(apt-cache madison qemu-system-x86 | awk '{print $3}' | sort -V | tail -1)
[ -n "$offered" ] || { echo "install-qemu-backports: $mirror offers no bookworm-backports qemu-system-x86 (unreachable, or no backports there)" >&2; exit 1; }
# The installed copy's Debian version, from its own --version line ("QEMU emulator version 10.0.2 (Debian 1:10.0.2+…)").
installed=$("$prefix/usr/bin/qemu-system-x86_64" --version 2>/dev/null | sed -n '1s/.*(Debian \(.*\))$/\1/p' || true)
echo "installed in $prefix: ${installed:-none}; bookworm-backports offers: $offered"
if [ "$installed" = "$offered" ]; then
  say "QEMU $installed in $prefix is the mirror's newest: nothing to do"
  exit 0
fi
[ $check = 0 ] || exit 10
# qemu-system-x86 and its own data (firmware: qboot is the microvm machine's bios-microvm.bin) and common files;
# seabios: backports' (qemu-system-x86 10 asks for >> 1.16.3), only read from the prefix by -M pc machines.
packages=(qemu-system-x86 qemu-system-data qemu-system-common seabios)
(cd "$work/debs" && apt-get download "qemu-system-x86=$offered" "${packages[@]:1}")
version=$(dpkg-deb -f "$work"/debs/qemu-system-x86_*.deb Version)

say "unpacking QEMU $version into $prefix"
rm -rf "$prefix.tmp" && mkdir -p "$prefix.tmp"
for deb in "$work"/debs/*.deb; do dpkg-deb -x "$deb" "$prefix.tmp"; done
missing=$(ldd "$prefix.tmp/usr/bin/qemu-system-x86_64" | awk '/not found/{print $1}')
[ -z "$missing" ] || { echo "install-qemu-backports: libraries missing on this host: $missing (apt-get install them)" >&2; rm -rf "$prefix.tmp"; exit 1; }
"$prefix.tmp/usr/bin/qemu-system-x86_64" --version | head -1
# Root's, writable by no one else: the tier runs this QEMU's jail as root (RootOwnedProgram).
chown -R root:root "$prefix.tmp" && chmod -R go-w "$prefix.tmp" && chmod 0755 "$prefix.tmp"
# Swapped by two renames: a VM starting in between fails to find its QEMU (and says so), none runs a half-written one;
# running VMs keep the old prefix, bound into their jails, until they end.
rm -rf "$prefix.old"
[ ! -e "$prefix" ] || mv "$prefix" "$prefix.old"
mv "$prefix.tmp" "$prefix" && rm -rf "$prefix.old"
say "QEMU $version: $prefix/usr/bin/qemu-system-x86_64 (the microVM tier's default QEMU where the prefix is /opt/qemu10; else sandboxd.yaml microvm: qemu: $prefix/usr/bin/qemu-system-x86_64)"
