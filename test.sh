#!/usr/bin/env bash
# Runs every test of Factory Twin. Installs what is missing first (Debian/Ubuntu: apt-get).
# Usage: ./test.sh [extra arguments for dotnet test, e.g. --filter Category=...]
set -euo pipefail
cd "$(dirname "$0")"

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

if ! command -v dotnet >/dev/null; then
  echo "test.sh: the .NET 10 SDK is required (https://dot.net); 'dotnet' is not on PATH." >&2
  exit 1
fi

# Real servers and tools the tests use: Mosquitto and its clients, PostgreSQL for cluster mode,
# Debian's chromium for the browser test, Node.js/npm to bundle the dashboard.
missing=()
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || missing+=(postgresql)
[ -x /usr/sbin/mosquitto ] || command -v mosquitto >/dev/null || missing+=(mosquitto)
command -v mosquitto_pub >/dev/null || missing+=(mosquitto-clients)
[ -x /usr/bin/chromium ] || missing+=(chromium)
command -v npm >/dev/null || missing+=(nodejs npm)
if [ ${#missing[@]} -gt 0 ]; then
  echo "test.sh: installing ${missing[*]}"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "${missing[@]}"
  # Tests start their own brokers; a system broker left running would take port 1883 from the
  # gateway's embedded broker.
  if command -v systemctl >/dev/null && systemctl is-active --quiet mosquitto 2>/dev/null; then
    echo "test.sh: stopping the mosquitto service the package started (tests run their own)"
    as_root systemctl disable --now mosquitto || true
  fi
fi

# The dashboard bundle (wwwroot) is rebuilt from its sources, so the browser test tests them.
(cd Twin.Gateway/dashboard && npm ci --no-audit --no-fund --loglevel=error && npm run build --silent)
# Eclipse Tahu's Sparkplug B client, the edge node the Sparkplug tests run against.
(cd tests/peers/sparkplug && npm ci --no-audit --no-fund --loglevel=error)

dotnet build DigitalTwin.sln -c Release -nologo -v quiet

log="$(mktemp)"
trap 'rm -f "$log"' EXIT
status=0
dotnet test DigitalTwin.sln -c Release --no-build -nologo --blame-hang-timeout 10m "$@" 2>&1 | tee "$log" || status=$?
dotnet run -c Release --no-build --project tools/Twin.Bench -- quick || status=$?  # end-to-end smoke run: fails on any lost message

passed=$(grep -Eo 'Passed: +[0-9]+' "$log" | awk '{s+=$2} END {print s+0}')
failed=$(grep -Eo 'Failed: +[0-9]+' "$log" | awk '{s+=$2} END {print s+0}')
if [ "$failed" -gt 0 ]; then
  # Repeat each failure's name and message at the end, where a CI log's tail shows it.
  echo "--- failed tests"
  awk '/^ +Failed [^:]/ {show=1} /^ +Stack Trace:/ {show=0} show' "$log" | cut -c1-400 | head -n 80
fi
echo "tests: ${passed} passed, ${failed} failed"
if [ "$passed" -eq 0 ] && [ "$status" -eq 0 ]; then
  echo "test.sh: no test ran" >&2
  exit 1
fi
exit "$status"
