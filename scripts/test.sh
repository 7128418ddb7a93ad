#!/usr/bin/env bash
# Installs everything the tests need, builds, and runs the whole test suite against the real components
# (bubblewrap, the kernel's cgroups and seccomp, the NativeAOT agent). Ends with "tests: N passed, N failed, N skipped"
# counted from the TRX result files.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"

# CI ends the job at 90 minutes, summary or not. The run keeps to a budget counted from here (the bootstrap and build
# included), SANDBOX_TEST_BUDGET_MIN (default 85): each test phase runs under `timeout`, which ends its whole process
# group (dotnet, MSBuild nodes, vstest, the test hosts and what they started) when the phase's share is spent, so a
# hang that the per-test and per-project limits below do not catch still ends in the summary, naming the projects
# that reported nothing. stdin is /dev/null: a process group that is not the terminal's foreground must not touch it.
budget_s=$(( ${SANDBOX_TEST_BUDGET_MIN:-85} * 60 ))
left_s() { local s=$(( budget_s - SECONDS - $1 )); echo $(( s > 60 ? s : 60 )); }

"$here/scripts/bootstrap.sh" --no-install

results=$here/artifacts/test-results
rm -rf "$results" && mkdir -p "$results"
export SANDBOX_AGENT_DIR=$here/artifacts/agent

status=0
# The host matrix boots a guest under TCG that takes both cores for minutes: it runs after the rest, alone, so the
# behaviour suite's microVMs do not race it for CPU (docs/host-matrix.md; SANDBOX_HOSTMATRIX=full|off).
# A test that hangs is ended after 15 minutes (the slowest test here takes a few) and named in the output, instead of
# holding the run until the session timeout.
# The host matrix's share is kept back from the first phase (its smoke run takes 10-20 minutes here).
hostmatrix_reserve_s=$((20 * 60))
timeout --kill-after=60 "$(left_s $hostmatrix_reserve_s)" \
  dotnet test Sandbox.sln -c Release --nologo --logger "trx" --results-directory "$results" --filter "FullyQualifiedName!~Sandbox.HostMatrix" \
  --blame-hang-timeout 15m --blame-hang-dump-type none -- RunConfiguration.TestSessionTimeout=1800000 </dev/null || status=$?
# The matrix's own session ends a minute before the phase's hard limit, so vstest still writes its results.
hostmatrix_s=$(left_s 120)
timeout --kill-after=60 "$hostmatrix_s" \
  dotnet test tests/HostMatrix/Sandbox.HostMatrix.csproj -c Release --nologo --no-build --logger "trx" --results-directory "$results" \
  -- RunConfiguration.TestSessionTimeout=$(( (hostmatrix_s > 3060 ? 3000 : hostmatrix_s - 60) * 1000 )) </dev/null || status=$?

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
# A project that wrote no results (killed by the phase limit above, or its test host crashed before vstest could
# report) fails the run by name: its tests are in none of the counts.
for project in tests/*/*.csproj; do
  dll=$(basename "$project" .csproj | tr '[:upper:]' '[:lower:]').dll
  grep -qil "storage=\"[^\"]*/$dll\"" "$results"/*.trx 2>/dev/null || { echo "no test results from $(basename "$project" .csproj)" >&2; status=1; }
done
echo "tests: $passed passed, $failed failed, $skipped skipped"
[ $((passed + failed)) -gt 0 ] || { echo "no test ran" >&2; status=1; }
exit $status
