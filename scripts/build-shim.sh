#!/usr/bin/env bash
# Publishes the containerd shim (NativeAOT: containerd starts it up to three times per container) to OUT
# (default artifacts/shim/containerd-shim-sandbox-v2). install-service.sh copies it next to containerd's PATH.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$here/artifacts/shim}
publish=$here/artifacts/shim-publish

dotnet publish "$here/src/KataShim/Sandbox.KataShim.csproj" -c Release -r linux-x64 -o "$publish" --nologo -v quiet \
  -p:TreatWarningsAsErrors=true >/dev/null

rm -rf "$out.tmp" && mkdir -p "$out.tmp"
cp "$publish/containerd-shim-sandbox-v2" "$out.tmp/containerd-shim-sandbox-v2"
chmod 0755 "$out.tmp/containerd-shim-sandbox-v2"
rm -rf "$out" && mv "$out.tmp" "$out"
echo "shim: $out/containerd-shim-sandbox-v2 ($(du -sh "$out/containerd-shim-sandbox-v2" | cut -f1))"
