#!/usr/bin/env bash
# Runs Tivo's whole test suite on a fresh machine: restores, builds and tests every project,
# then prints one summary line "N passed, N failed, N skipped".
# Tests that need servers start them themselves; this script installs what they need.
set -euo pipefail
cd "$(dirname "$0")"

if ! command -v dotnet >/dev/null 2>&1; then
  echo "test.sh: the .NET 10 SDK is required (dotnet not found on PATH)" >&2
  exit 1
fi

export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
results="$(pwd)/artifacts/test-results"
rm -rf "$results"
mkdir -p "$results"

status=0
dotnet test Tivo.sln --configuration Release --logger "trx" --results-directory "$results" "$@" || status=$?

# Sum the counters of every TRX file (one per test assembly).
passed=0; failed=0; skipped=0; found=0
for trx in "$results"/*.trx; do
  [ -e "$trx" ] || continue
  found=1
  counters=$(grep -o '<Counters [^>]*>' "$trx" | head -1)
  get() { echo "$counters" | sed -n "s/.* $1=\"\([0-9]*\)\".*/\1/p"; }
  passed=$((passed + $(get passed)))
  failed=$((failed + $(get failed)))
  total=$(get total); executed=$(get executed)
  skipped=$((skipped + total - executed))
done

if [ "$found" -eq 0 ]; then
  echo "test.sh: no test results were written (build failure?)" >&2
  echo "0 passed, 1 failed"
  exit 1
fi

echo "${passed} passed, ${failed} failed, ${skipped} skipped"
if [ "$status" -ne 0 ] || [ "$failed" -ne 0 ] || [ "$passed" -eq 0 ]; then
  exit 1
fi
