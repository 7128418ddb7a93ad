#!/usr/bin/env bash
# Runs this repository's own workflow (.github/workflows/sandbox.yml) under `sandbox ci run --local`: restore, build
# and test of src/SyscallFilter in a container-tier job (by default a push to main of a trusted repository), the SDK being the
# host's, read-only. NuGet restore reaches only the NuGet host named by this machine's NuGet configuration (read here,
# at run time; the CI policy keeps it as an operator mirror). Extra arguments go to `sandbox ci run` (e.g. --json FILE,
# --artifacts DIR, or --event pull_request --fork: a microVM without egress, restoring from the trusted cache).
# Usage: examples/ci/run-repository-workflow.sh [SANDBOX] [ci run args...]   (SANDBOX default: artifacts/cli/sandbox)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
sandbox=${1:-$root/artifacts/cli/sandbox}
[ $# -gt 0 ] && shift
nuget=$(dotnet nuget list source --format short 2>/dev/null | awk '/^E/ {print $2; exit}' | sed -E 's#^[a-z]+://([^/:]+).*#\1#')
if [ -z "$nuget" ]; then echo "no enabled NuGet source in this machine's configuration (dotnet nuget list source)" >&2; exit 2; fi
cd "$root"
# Run as a push to main (the trusted case) unless the arguments say which event or ref.
trigger=(--ref refs/heads/main)
for a in "$@"; do case "$a" in --event|--event=*|--ref|--ref=*) trigger=() ;; esac; done
# dotnet build needs more than the sandbox policy's default 512 MiB, and the work dir (a tmpfs) holds the packages.
exec "$sandbox" ci run --local --plain --runner-image ubuntu-latest=host --egress "$nuget:443" --mirror "$nuget" --memory 3g --disk 3g --cpus 2 \
  "${trigger[@]}" .github/workflows/sandbox.yml "$@"
