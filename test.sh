#!/usr/bin/env bash
# Runs Tivo's whole test suite on a fresh machine: restores, builds and tests every project, runs the
# JavaScript client's tests and the benchmark suite in smoke mode (it must produce every figure; counted
# as one check), then prints one summary line "N passed, N failed, N skipped".
# Tests that need servers start them themselves; this script installs what they need.
set -euo pipefail
cd "$(dirname "$0")"

if ! command -v dotnet >/dev/null 2>&1; then
  echo "test.sh: the .NET 10 SDK is required (dotnet not found on PATH)" >&2
  exit 1
fi

export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1

# PostgreSQL server binaries: the PostgreSQL store tests start a throwaway cluster from them.
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && [ -z "${TIVO_PG_BIN:-}" ]; then
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "test.sh: installing PostgreSQL server binaries (apt-get install postgresql-15)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql-15 >/dev/null
  else
    echo "test.sh: PostgreSQL server binaries are missing: install postgresql-15 (or set TIVO_PG_BIN)" >&2
    exit 1
  fi
fi

# dynalite (a DynamoDB-compatible server): the DynamoDB store tests start it.
if ! command -v node >/dev/null 2>&1; then
  echo "test.sh: Node.js (20+) is required for the DynamoDB store tests (dynalite)" >&2
  exit 1
fi
if [ ! -x /usr/bin/chromium ] && [ -z "${CHROMIUM_PATH:-}" ]; then
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "test.sh: installing Chromium for the demo page's browser test (apt-get install chromium)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "test.sh: Chromium is missing: install Debian's chromium (or set CHROMIUM_PATH)" >&2
    exit 1
  fi
fi
# nats-server: the benchmark's NATS JetStream peer (the smoke run below starts it).
if ! command -v nats-server >/dev/null 2>&1 && [ ! -x /usr/sbin/nats-server ]; then
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "test.sh: installing nats-server for the benchmark's peer (apt-get install nats-server)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nats-server >/dev/null
  else
    echo "test.sh: nats-server is missing: install Debian's nats-server" >&2
    exit 1
  fi
fi
# Debian's Python packages for the Python client (these machines reach Debian's packages, not the Python index).
if ! /usr/bin/python3 -c 'import websockets, pandas, pytest, ensurepip, setuptools' >/dev/null 2>&1; then
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "test.sh: installing Debian's python3-websockets, python3-pandas, python3-pytest, python3-venv, python3-setuptools"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-websockets python3-pandas python3-pytest python3-venv python3-setuptools >/dev/null
  else
    echo "test.sh: the Python client's tests need Debian's python3-websockets python3-pandas python3-pytest python3-venv" >&2
    exit 1
  fi
fi
if [ ! -f bench/peers/node_modules/ws/package.json ]; then
  echo "test.sh: installing the benchmark's naive peer (npm ci --prefix bench/peers)"
  npm ci --prefix bench/peers --no-audit --no-fund --loglevel=error
fi
if [ ! -d clients/js/node_modules/playwright-core ]; then
  echo "test.sh: installing playwright-core (npm ci --prefix clients/js)"
  npm ci --prefix clients/js --no-audit --no-fund --loglevel=error
fi
if [ ! -f test/asyncapi/node_modules/@asyncapi/specs/package.json ]; then
  echo "test.sh: installing the AsyncAPI schema check (npm ci --prefix test/asyncapi)"
  npm ci --prefix test/asyncapi --no-audit --no-fund --loglevel=error
fi
if [ ! -f test/kubernetes/node_modules/kubernetes-models/package.json ]; then
  echo "test.sh: installing the Kubernetes manifest check (npm ci --prefix test/kubernetes)"
  npm ci --prefix test/kubernetes --no-audit --no-fund --loglevel=error
fi
# docker-compose (Debian's): docker-compose.yml is validated with `docker-compose config` (no container engine runs here).
if ! command -v docker-compose >/dev/null 2>&1; then
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "test.sh: installing docker-compose to validate docker-compose.yml (apt-get install docker-compose)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-compose >/dev/null
  else
    echo "test.sh: docker-compose is missing: install Debian's docker-compose" >&2
    exit 1
  fi
fi
if [ ! -f test/dynalite/node_modules/dynalite/cli.js ]; then
  echo "test.sh: installing dynalite (npm ci --prefix test/dynalite)"
  npm ci --prefix test/dynalite --no-audit --no-fund --loglevel=error
fi
results="$(pwd)/artifacts/test-results"
rm -rf "$results"
mkdir -p "$results"

# Build every project of the solution (dotnet test alone builds only the test projects and what they reference;
# the benchmark smoke below needs bench/Tivo.Bench too).
dotnet build Tivo.sln --configuration Release -nologo -v quiet

status=0
dotnet test Tivo.sln --configuration Release --no-build --logger "trx" --results-directory "$results" "$@" || status=$?

# The JavaScript client's tests (node:test) run against a real gateway they start from the Release build;
# the demo page's and the 2016 prototype page's tests drive Debian's Chromium through playwright-core;
# test/asyncapi validates docs/asyncapi.yaml against the AsyncAPI 3.0 schema; test/kubernetes validates
# deploy/kubernetes against the Kubernetes API's schemas.
node_flags=()
if [ "$(node -p 'process.versions.node.split(".")[0]')" -lt 22 ]; then node_flags+=(--experimental-websocket); fi
js_log="$results/js-client.txt"
js_status=0
node "${node_flags[@]}" --test clients/js/test/ test/asyncapi/ test/kubernetes/ > "$js_log" 2>&1 || js_status=$?
grep -E '^(not ok|# (tests|pass|fail))' "$js_log" || true
if [ "$js_status" -ne 0 ]; then
  # Show why: node:test's TAP output puts each failure's details (error, expected, stack) under "not ok".
  awk '/^not ok/ {show=1} /^ok / {show=0} show' "$js_log" | head -60
fi
js_passed=$(sed -n 's/^# pass \([0-9]*\)$/\1/p' "$js_log" | tail -1)
js_failed=$(sed -n 's/^# fail \([0-9]*\)$/\1/p' "$js_log" | tail -1)
if [ -z "$js_passed" ]; then
  echo "test.sh: the JavaScript client tests did not run:" >&2
  tail -20 "$js_log" >&2
  js_passed=0; js_failed=1
fi

# The Python client: built with Debian's setuptools into a venv that sees Debian's packages, tested with pytest
# against a real gateway its fixture starts.
py_status=0
py_env="$results/python-venv"
py_xml="$results/python-client.xml"
{ /usr/bin/python3 -m venv --system-site-packages "$py_env" \
  && "$py_env/bin/pip" install -q --no-index --no-build-isolation --no-deps ./clients/python \
  && (cd clients/python && "$py_env/bin/python" -m pytest -q -p no:cacheprovider --junitxml="$py_xml" tests); } > "$results/python-client.txt" 2>&1 || py_status=$?
tail -3 "$results/python-client.txt"
py_passed=0; py_failed=0
if [ -f "$py_xml" ]; then
  suite=$(grep -o '<testsuite [^>]*>' "$py_xml" | head -1)
  attr() { echo "$suite" | sed -n "s/.* $1=\"\([0-9]*\)\".*/\1/p"; }
  py_failed=$(( $(attr failures) + $(attr errors) ))
  py_passed=$(( $(attr tests) - py_failed - $(attr skipped) ))
fi
if [ "$py_status" -ne 0 ] && [ "$py_failed" -eq 0 ]; then
  echo "test.sh: the Python client's tests did not run:" >&2
  tail -20 "$results/python-client.txt" >&2
  py_failed=1
fi

# docker-compose.yml: the cluster on one machine, checked as Compose reads it (counted as one test).
compose_status=0
docker-compose -f docker-compose.yml config -q > "$results/docker-compose.txt" 2>&1 || compose_status=$?
if [ "$compose_status" -eq 0 ]; then
  echo "docker-compose.yml: valid ($(docker-compose -f docker-compose.yml config --services | tr '\n' ' '))"
else
  echo "docker-compose.yml is not valid:" >&2
  cat "$results/docker-compose.txt" >&2
fi

# The benchmark suite in smoke mode: seconds-long runs that must produce every figure (never timed pass/fail).
bench_log="$results/bench-smoke.txt"
bench_status=0
bench=bench/Tivo.Bench/bin/Release/net10.0/Tivo.Bench.dll
{ dotnet "$bench" all --smoke --out "$results/bench-smoke.json" && dotnet "$bench" micro --smoke; } > "$bench_log" 2>&1 || bench_status=$?
# A misspelt option stops the benchmark with its name (it used to run the defaults, minutes of them).
cli_status=0
cli_answer=$(timeout 60 dotnet "$bench" delivery --session 5 2>&1) || cli_status=$?
if [ "$cli_status" -ne 1 ] || ! grep -q "Unrecognized command or argument '--session'" <<< "$cli_answer"; then
  echo "benchmark: a misspelt option was not refused (exit $cli_status): $(head -2 <<< "$cli_answer")" >> "$bench_log"
  [ "$bench_status" -ne 0 ] || bench_status=1
fi
# --rows picks Tivo's rows (a third of the time for an A/B of lead rows) and refuses a kind it does not know.
rows_status=0
rows_answer=$(timeout 60 dotnet "$bench" delivery --rows lead,bogus 2>&1) || rows_status=$?
if [ "$rows_status" -ne 1 ] || ! grep -q "rows takes plain, lead and js separated by commas, not 'bogus'" <<< "$rows_answer"; then
  echo "benchmark: --rows lead,bogus was not refused (exit $rows_status): $(tail -2 <<< "$rows_answer")" >> "$bench_log"
  [ "$bench_status" -ne 0 ] || bench_status=1
fi
if ! timeout 180 dotnet "$bench" delivery --sessions 10 --speeds 1 --seconds 1 --no-peers --rows lead --out "$results/bench-rows.json" >> "$bench_log" 2>&1 \
  || [ "$(/usr/bin/python3 -c 'import json, sys; print(",".join(r["System"] for r in json.load(open(sys.argv[1]))["delivery"]))' "$results/bench-rows.json")" != "tivo-lead" ]; then
  echo "benchmark: delivery --rows lead did not run the lead row alone" >> "$bench_log"
  [ "$bench_status" -ne 0 ] || bench_status=1
fi
# Each Tivo row lists the gateway's garbage collections in its counted window, read through the runtime's event pipe: a
# row whose listener failed has none (null), one in which the gateway did not collect an empty list. The warm-up (a fresh
# gateway's first plays) is kept apart from the rows, with its collections too. The driver lists its own the same way: its
# pauses stamp arrivals late whatever the server.
if ! /usr/bin/python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); rows = d["delivery"] + d["deliveryCold"]; sys.exit(0 if rows and [r["System"] for r in d["deliveryCold"]] == ["tivo"] and all(isinstance(r.get("GatewayCollections"), list) and isinstance(r.get("DriverCollections"), list) for r in rows) else 1)' "$results/bench-rows.json"; then
  echo "benchmark: a Tivo row or the warm-up did not list the gateway's collections (GatewayCollections) or the driver's (DriverCollections), or the warm-up is missing (deliveryCold)" >> "$bench_log"
  [ "$bench_status" -ne 0 ] || bench_status=1
fi
if [ "$bench_status" -eq 0 ]; then
  echo "benchmark smoke: every figure produced ($results/bench-smoke.json)"
else
  echo "benchmark smoke FAILED (exit $bench_status):" >&2
  tail -40 "$bench_log" >&2
fi

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

passed=$((passed + js_passed + py_passed))
failed=$((failed + js_failed + py_failed))
if [ "$bench_status" -eq 0 ]; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
if [ "$compose_status" -eq 0 ]; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
echo "${passed} passed, ${failed} failed, ${skipped} skipped"
if [ "$status" -ne 0 ] || [ "$js_status" -ne 0 ] || [ "$py_status" -ne 0 ] || [ "$bench_status" -ne 0 ] || [ "$compose_status" -ne 0 ] || [ "$failed" -ne 0 ] || [ "$passed" -eq 0 ]; then
  exit 1
fi
