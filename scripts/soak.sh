#!/usr/bin/env bash
# Soak (issue 9): COUNT sandboxes (default 1000) created, used and deleted through a real sandboxd process, PARALLEL at
# a time, one in MICROVM_EVERY a microVM (TCG here), the rest containers: normal use (upload, exec, read back), execs
# killed mid-run by a delete, execs timing out, OOM kills, one-shot runs. Then it checks that no bwrap/QEMU process,
# mount, cgroup, socket, /tmp entry or state record is left, and that sandboxd's VmRSS returned near its baseline;
# prints the figures (tests/SandboxApi.Tests/SoakTests.cs; the suite runs 50).
# Usage: scripts/soak.sh [COUNT] [PARALLEL] [MICROVM_EVERY]      Needs SANDBOX_AGENT_DIR (the built agent) and root.
set -euo pipefail
cd "$(dirname "$0")/.."
export SOAK_COUNT="${1:-1000}" SOAK_PARALLEL="${2:-4}" SOAK_MICROVM_EVERY="${3:-25}"
dotnet build tests/SandboxApi.Tests/Sandbox.SandboxApi.Tests.csproj -c Release -v quiet --nologo
dotnet test tests/SandboxApi.Tests/Sandbox.SandboxApi.Tests.csproj -c Release --no-build --nologo \
  --filter "FullyQualifiedName~SoakTests" --logger "console;verbosity=detailed" | grep -E "soak:|Passed|Failed|Error|Assert" 
