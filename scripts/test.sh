#!/usr/bin/env bash
# Installs everything the tests need, builds, and runs the whole test suite against the real components
# (bubblewrap, the kernel's cgroups and seccomp, the NativeAOT agent). Ends with "tests: N passed, N failed, N skipped"
# counted from the TRX result files.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"

"$here/scripts/bootstrap.sh" --no-install

results=$here/artifacts/test-results
rm -rf "$results" && mkdir -p "$results"
export SANDBOX_AGENT_DIR=$here/artifacts/agent

status=0
# The host matrix boots a guest under TCG that takes both cores for minutes: it runs after the rest, alone, so the
# behaviour suite's microVMs do not race it for CPU (docs/host-matrix.md; SANDBOX_HOSTMATRIX=full|off).
# A test that hangs is ended after 15 minutes (the slowest test here takes a few) and named in the output, instead of
# holding the run until the session timeout.
dotnet test Sandbox.sln -c Release --nologo --logger "trx" --results-directory "$results" --filter "FullyQualifiedName!~Sandbox.HostMatrix" \
  --blame-hang-timeout 15m --blame-hang-dump-type none -- RunConfiguration.TestSessionTimeout=1800000 || status=$?
dotnet test tests/HostMatrix/Sandbox.HostMatrix.csproj -c Release --nologo --no-build --logger "trx" --results-directory "$results" -- RunConfiguration.TestSessionTimeout=3000000 || status=$?

# Sum the Counters of every TRX file (one per test project).
passed=0 failed=0 skipped=0
attr() { grep -o "<Counters [^>]*" "$1" | grep -o " $2=\"[0-9]*\"" | grep -o '[0-9]*' || echo 0; }
for f in "$results"/*.trx; do
  [ -f "$f" ] || continue
  passed=$((passed + $(attr "$f" passed)))
  failed=$((failed + $(attr "$f" failed) + $(attr "$f" error) + $(attr "$f" timeout) + $(attr "$f" aborted)))
  # xunit's skipped tests are counted in total but not in executed (its notExecuted counter stays 0).
  skipped=$((skipped + $(attr "$f" total) - $(attr "$f" executed)))
done
echo "tests: $passed passed, $failed failed, $skipped skipped"
[ $((passed + failed)) -gt 0 ] || { echo "no test ran" >&2; status=1; }
exit $status
