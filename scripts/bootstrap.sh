#!/usr/bin/env bash
# Installs what Sandbox needs on Debian 12 (as root), builds it, and installs the `sandbox` command.
# Idempotent: run it again after pulling. Usage: scripts/bootstrap.sh [--no-install] [--minimal-kernel]
#   --no-install      build into artifacts/ only (what the test script uses); nothing is copied to /usr/local.
#   --minimal-kernel  also build the microVM tier's minimal guest kernel (`sandbox kernel build`: Debian's
#                     linux-source-6.1 and its build tools, ~1.6 GB of disk while building, minutes of compiling;
#                     optional, never in CI: Debian's kernel is the default).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
install=1
minimal_kernel=0
for arg in "$@"; do
  case "$arg" in
    --no-install) install=0 ;;
    --minimal-kernel) minimal_kernel=1 ;;
    *) echo "bootstrap: unknown option $arg (accepted: --no-install, --minimal-kernel)" >&2; exit 2 ;;
  esac
done

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }

[ "$(id -u)" = 0 ] || { echo "bootstrap: run as root (it installs packages and creates cgroups)" >&2; exit 1; }

packages=(bubblewrap util-linux clang lld zlib1g-dev ca-certificates python3 qemu-system-x86 xz-utils cpio mmdebstrap e2fsprogs)
# The containerd runtime class (shim tests against a real containerd; runc and runsc as peers), images (a loopback
# registry, skopeo to push to it, erofs block images for the microVM tier), network (pasta/slirp4netns user-mode
# stacks, nftables, iperf3 for the bench), range user namespaces (uidmap), benches (hyperfine), SDK tests (grpcio),
# the CI runner's examples (make, gcc, pytest), CNI plugins (the CRI tests' pod network: bridge, host-local, loopback).
packages+=(containerd runc runsc skopeo docker-registry erofs-utils passt slirp4netns nftables dnsmasq-base iperf3
  uidmap hyperfine python3-grpcio python3-grpc-tools python3-pytest make gcc libc6-dev busybox-static
  containernetworking-plugins)
# Node.js runs the gRPC client test that is not ours and the TypeScript SDK; a machine may already have it from elsewhere (whose npm
# conflicts with Debian's), so Debian's packages are added only when the commands are missing.
command -v node >/dev/null 2>&1 || packages+=(nodejs)
command -v npm >/dev/null 2>&1 || packages+=(npm)
missing=()
for p in "${packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  # Every apt-get that fetches here retries a failed download (Acquire::Retries): a mirror's hiccup on a clean CI
  # machine otherwise fails the whole run before any test.
  say "installing ${missing[*]}"
  apt-get -o Acquire::Retries=5 update -qq
  DEBIAN_FRONTEND=noninteractive apt-get -o Acquire::Retries=5 install -y -qq "${missing[@]}" >/dev/null
fi

# The microVM tier's QEMU: bookworm-backports' QEMU 10 unpacked into /opt/qemu10 (the tier runs it where it is
# installed; docs/architecture.md says why unpacked, not apt-pinned). Rerunning bootstrap upgrades it. Without it the
# tier runs the system's 7.2: the same isolation, microVM execs under TCG about twice as slow; so a failure is said
# loudly and bootstrap goes on.
say "bookworm-backports' QEMU 10 for the microVM tier (/opt/qemu10)"
if ! "$here/scripts/install-qemu-backports.sh"; then
  printf '\033[1;31m%s\033[0m\n' "bootstrap: WARNING: bookworm-backports' QEMU 10 could not be installed (the mirror is unreachable or the install failed: above). The microVM tier stays on the system QEMU 7.2 (same isolation, microVM execs under TCG ~2x slower); 'sandbox doctor' says which QEMU it runs. Retry: scripts/install-qemu-backports.sh" >&2
fi

if ! command -v dotnet >/dev/null 2>&1; then
  say "installing the .NET 10 SDK from Microsoft's Debian 12 feed"
  DEBIAN_FRONTEND=noninteractive apt-get -o Acquire::Retries=5 install -y -qq wget >/dev/null
  wget -q --tries=5 https://packages.microsoft.com/config/debian/12/packages-microsoft-prod.deb -O /tmp/packages-microsoft-prod.deb
  dpkg -i /tmp/packages-microsoft-prod.deb >/dev/null && rm /tmp/packages-microsoft-prod.deb
  apt-get -o Acquire::Retries=5 update -qq && DEBIAN_FRONTEND=noninteractive apt-get -o Acquire::Retries=5 install -y -qq dotnet-sdk-10.0 >/dev/null
fi
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1

say "building the agent (NativeAOT)"
"$here/scripts/build-agent.sh" "$here/artifacts/agent"

"$here/scripts/fetch-kernel.sh"

say "building the sandbox command (NativeAOT)"
dotnet publish "$here/src/Cli/Sandbox.Cli.csproj" -c Release -r linux-x64 -o "$here/artifacts/cli" --nologo -v quiet >/dev/null
rm -rf "$here/artifacts/cli/agent" && cp -r "$here/artifacts/agent" "$here/artifacts/cli/agent"

# The Debian base image tests and users share (sandbox run --image debian:bookworm); built once from this machine's
# apt mirror with mmdebstrap (about 2-3 minutes), found in the store's cache afterwards.
say "building the debian:bookworm image (cached in /var/cache/sandbox/images)"
"$here/artifacts/cli/sandbox" image build --debian bookworm --name debian:bookworm >/dev/null 2>&1 \
  || echo "bootstrap: the debian:bookworm image could not be built; tests that need it are skipped" >&2

if [ $minimal_kernel = 1 ]; then
  kernel_packages=(linux-source-6.1 bc flex bison libelf-dev libssl-dev binutils)
  kernel_missing=()
  for p in "${kernel_packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || kernel_missing+=("$p"); done
  if [ ${#kernel_missing[@]} -gt 0 ]; then
    say "installing ${kernel_missing[*]} (the minimal guest kernel's source and build tools)"
    DEBIAN_FRONTEND=noninteractive apt-get -o Acquire::Retries=5 install -y -qq "${kernel_missing[@]}" >/dev/null
  fi
  say "building the minimal guest kernel (cached in /var/cache/sandbox/kernel/minimal)"
  nice -n 19 "$here/artifacts/cli/sandbox" kernel build
fi

say "building the containerd shim containerd-shim-sandbox-v2 (NativeAOT)"
"$here/scripts/build-shim.sh" "$here/artifacts/shim"

say "building sandboxd (framework-dependent)"
dotnet publish "$here/src/SandboxApi/Sandbox.SandboxApi.csproj" -c Release -o "$here/artifacts/sandboxd" --nologo -v quiet >/dev/null

say "installing the Node.js test client's packages (tests/node-client)"
(cd "$here/tests/node-client" && npm install --no-audit --no-fund --silent >/dev/null) || echo "bootstrap: npm install failed; the Node.js client test will be skipped" >&2

say "building the TypeScript SDK (sdk/typescript: npm ci, generate, tsc)"
(cd "$here/sdk/typescript" && npm ci --no-audit --no-fund --silent >/dev/null && npm run --silent build) \
  || echo "bootstrap: the TypeScript SDK could not be built; its tests will be skipped" >&2

if [ $install = 1 ]; then
  say "installing /usr/local/bin/sandbox and /usr/local/lib/sandbox/agent"
  mkdir -p /usr/local/lib/sandbox
  rm -rf /usr/local/lib/sandbox/agent && cp -r "$here/artifacts/agent" /usr/local/lib/sandbox/agent
  install -m 0755 "$here/artifacts/cli/sandbox" /usr/local/bin/sandbox
  sandbox doctor || true
fi
say "done"
