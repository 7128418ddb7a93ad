#!/usr/bin/env bash
# Installs and starts sandboxd, then runs a first sandbox through it. Run after scripts/bootstrap.sh, as root:
#   scripts/bootstrap.sh && scripts/install-service.sh
# Installs /usr/local/bin/sandboxd (a framework-dependent publish in /usr/local/lib/sandbox/sandboxd), the default
# config /etc/sandbox/sandboxd.yaml (kept if present), the systemd units and their stop helper
# (/usr/local/lib/sandbox/sandboxd-stop). With systemd as PID 1 it enables the
# socket and the service; otherwise (containers, CI) it starts sandboxd in the background itself (log:
# /var/log/sandboxd.log, pid: /run/sandbox/sandboxd.pid). Then it waits until the socket answers and runs
# `sandbox run --trusted -- echo hello from a sandbox` (the script's own command: trusted, so the container tier; untrusted
# code goes to a microVM where the policy says so).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
say() { printf '\033[1m==> %s\033[0m\n' "$*"; }
[ "$(id -u)" = 0 ] || { echo "install-service: run as root" >&2; exit 1; }
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
socket=/run/sandbox/sandboxd.sock

if [ ! -x "$here/artifacts/sandboxd/sandboxd" ]; then
  say "building sandboxd"
  dotnet publish "$here/src/SandboxApi/Sandbox.SandboxApi.csproj" -c Release -o "$here/artifacts/sandboxd" --nologo -v quiet >/dev/null
fi

# Access: the socket is 0660 root:sandbox; `usermod -aG sandbox USER` (and a tenant for the uid in sandboxd.yaml) lets
# a user in. `sandbox doctor` explains it.
if ! getent group sandbox >/dev/null; then
  say "creating the sandbox group (members may use sandboxd's socket)"
  groupadd --system sandbox
fi

say "installing sandboxd to /usr/local/lib/sandbox/sandboxd and /usr/local/bin/sandboxd"
mkdir -p /usr/local/lib/sandbox /etc/sandbox /var/lib/sandboxd /run/sandbox
rm -rf /usr/local/lib/sandbox/sandboxd && cp -r "$here/artifacts/sandboxd" /usr/local/lib/sandbox/sandboxd
[ -d /usr/local/lib/sandbox/agent ] || cp -r "$here/artifacts/agent" /usr/local/lib/sandbox/agent
ln -sf /usr/local/lib/sandbox/sandboxd/sandboxd /usr/local/bin/sandboxd
# containerd's runtime io.containerd.sandbox.v2 (docs/shim.md): the shim binary on containerd's PATH.
# A host given prebuilt artifacts without the SDK (the host matrix's guests) installs what it was given.
if [ ! -x "$here/artifacts/shim/containerd-shim-sandbox-v2" ] && command -v dotnet >/dev/null 2>&1; then
  "$here/scripts/build-shim.sh" "$here/artifacts/shim"
fi
if [ -x "$here/artifacts/shim/containerd-shim-sandbox-v2" ]; then
  install -m 0755 "$here/artifacts/shim/containerd-shim-sandbox-v2" /usr/local/bin/containerd-shim-sandbox-v2
else
  say "no containerd shim built (artifacts/shim) and no .NET SDK to build it: containerd's runtime class not installed"
fi
# The unit's ExecStop: SIGUSR2 (leave sandboxes for re-attach) on `systemctl restart`, SIGTERM (delete them) otherwise.
install -m 0755 "$here/systemd/sandboxd-stop" /usr/local/lib/sandbox/sandboxd-stop
if [ ! -f /etc/sandbox/sandboxd.yaml ]; then
  install -m 0644 "$here/config/sandboxd.yaml" /etc/sandbox/sandboxd.yaml
else
  say "keeping the existing /etc/sandbox/sandboxd.yaml"
fi
mkdir -p /usr/local/share/doc/sandbox && cp "$here/docs/sandboxd.md" /usr/local/share/doc/sandbox/
/usr/local/bin/sandboxd --check-config --config /etc/sandbox/sandboxd.yaml

if [ "$(cat /proc/1/comm 2>/dev/null)" = systemd ]; then
  say "installing and starting the systemd units"
  install -m 0644 "$here/systemd/sandboxd.service" "$here/systemd/sandboxd.socket" /etc/systemd/system/
  systemctl daemon-reload
  systemctl enable --now sandboxd.socket
  systemctl restart sandboxd.service
else
  say "systemd is not PID 1: starting sandboxd in the background"
  if [ -f /run/sandbox/sandboxd.pid ] && kill -0 "$(cat /run/sandbox/sandboxd.pid)" 2>/dev/null; then
    kill "$(cat /run/sandbox/sandboxd.pid)"
    for _ in $(seq 50); do kill -0 "$(cat /run/sandbox/sandboxd.pid)" 2>/dev/null || break; sleep 0.1; done
  fi
  nohup /usr/local/bin/sandboxd --config /etc/sandbox/sandboxd.yaml >>/var/log/sandboxd.log 2>&1 &
  echo $! > /run/sandbox/sandboxd.pid
fi

say "waiting for sandboxd on $socket"
sandbox_cli=$(command -v sandbox || echo "$here/artifacts/cli/sandbox")
for i in $(seq 100); do
  if [ -S "$socket" ] && "$sandbox_cli" ps --socket "$socket" -q >/dev/null 2>&1; then break; fi
  [ "$i" = 100 ] && { echo "install-service: sandboxd did not answer within 20 s; see /var/log/sandboxd.log or journalctl -u sandboxd" >&2; exit 1; }
  sleep 0.2
done

say "a first sandbox"
# --trusted: this is the script's own command. A request that says nothing is untrusted and the default policy sends it
# to the microVM tier, which a host without QEMU or the guest kernel cannot serve.
"$sandbox_cli" run --trusted -- echo hello from a sandbox
say "done: sandboxd is running (socket $socket)"
