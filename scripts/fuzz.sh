#!/usr/bin/env bash
# Fuzzes every parser that reads untrusted bytes (tests/Fuzz.Tests: ttrpc frames both ways, agent messages and answers,
# QMP replies, cpio, seccomp YAML/OCI JSON, Rego source and input JSON, sandboxd.yaml, file-API paths and ids) for
# longer than the suite does: ROUNDS rounds of ITERATIONS inputs per target, each round with its own seed.
# A failure prints the target, the input (hex or JSON text) and FUZZ_SEED to reproduce it:
#   FUZZ_SEED=<seed> FUZZ_ITERATIONS=<n> dotnet test tests/Fuzz.Tests -c Release --filter <Target>
# Usage: scripts/fuzz.sh [ITERATIONS (default 20000)] [ROUNDS (default 5)] [FILTER]
# (Coverage-guided fuzzing with SharpFuzz needs afl-fuzz (Debian: afl++) and instrumented assemblies; these generators
# mutate valid samples instead, which reaches past each format's first checks without instrumentation.)
set -euo pipefail
cd "$(dirname "$0")/.."
iterations="${1:-20000}"
rounds="${2:-5}"
filter="${3:-FullyQualifiedName~Sandbox.Fuzz.Tests&FullyQualifiedName!~FuzzRegression}"
dotnet build tests/Fuzz.Tests/Sandbox.Fuzz.Tests.csproj -c Release -v quiet --nologo
for round in $(seq 1 "$rounds"); do
  seed=$(( $(date +%s) * 1000 + round ))
  echo "== round $round/$rounds: FUZZ_SEED=$seed FUZZ_ITERATIONS=$iterations"
  FUZZ_SEED="$seed" FUZZ_ITERATIONS="$iterations" \
    dotnet test tests/Fuzz.Tests/Sandbox.Fuzz.Tests.csproj -c Release --no-build --nologo --filter "$filter"
done
