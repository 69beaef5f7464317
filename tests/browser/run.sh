#!/usr/bin/env bash
# Browser tests of the admin UI and tracker.js in headless Chromium.
#
#   tests/browser/run.sh              # against a `clicktail demo` it starts, plus
#                                     # the multi-node test when the services' env
#                                     # (CLICKTAIL_KAFKA_BROKERS, CLICKTAIL_DATABASE_URL)
#                                     # is set, as scripts/test.sh sets it
#   tests/browser/run.sh --services   # start the services (scripts/services.sh) if needed
#   tests/browser/run.sh --no-services
#
# Installs what it needs (Debian's chromium, the npm lockfile) idempotently,
# builds the binary, starts the processes on loopback, runs the tests and
# exits non-zero on any failure. Screenshots land in target/artifacts/.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
ARTIFACTS="$ROOT/target/artifacts"
# Port 0: the kernel picks a free port (others may run demos on this
# machine); the address is read from what the demo prints.
DEMO_LISTEN="${CLICKTAIL_BROWSER_DEMO_LISTEN:-127.0.0.1:0}"
WITH_SERVICES=0
[[ -n "${CLICKTAIL_KAFKA_BROKERS:-}" && -n "${CLICKTAIL_DATABASE_URL:-}" ]] && WITH_SERVICES=1
[[ "${1:-}" == "--services" ]] && WITH_SERVICES=1
[[ "${1:-}" == "--no-services" ]] && WITH_SERVICES=0
mkdir -p "$ARTIFACTS"

log() { printf 'browser-tests: %s\n' "$*" >&2; }

if ! command -v chromium >/dev/null 2>&1; then
  log "installing Debian's chromium"
  "$ROOT/scripts/apt-install.sh" chromium
fi
if [[ ! -d "$HERE/node_modules/playwright-core" || ! -d "$HERE/node_modules/axe-core" ]]; then
  log "npm ci"
  (cd "$HERE" && npm ci --no-audit --no-fund --loglevel=error)
fi

BIN="${CLICKTAIL_BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/debug/clicktail}"
if [[ -z "${CLICKTAIL_BIN:-}" ]]; then
  log "building clicktail"
  (cd "$ROOT" && cargo build --locked --bin clicktail)
fi

PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT

# Waits for "<prefix>http://ADDRESS/" in a process's stdout; prints the URL.
wait_address() { # stdout file, log file
  for _ in $(seq 1 150); do
    url="$(grep -o 'http://127\.0\.0\.1:[0-9]*' "$1" 2>/dev/null | head -1 || true)"
    if [[ -n "$url" ]] && curl -fsS "$url/readyz" >/dev/null 2>&1; then echo "$url"; return 0; fi
    sleep 0.2
  done
  log "not ready"; cat "$2" >&2; return 1
}

"$BIN" demo --listen "$DEMO_LISTEN" --rate 200 >"$ARTIFACTS/demo.out" 2>"$ARTIFACTS/demo.log" &
PIDS+=($!)
DEMO_URL="$(wait_address "$ARTIFACTS/demo.out" "$ARTIFACTS/demo.log")"
log "demo at $DEMO_URL"

status=0
log "UI and tracker against the demo"
(cd "$HERE" && CLICKTAIL_BIN="$BIN" CLICKTAIL_GATEWAY_URL="$DEMO_URL" node --test --test-concurrency=1 tests/) || status=1

if [[ $WITH_SERVICES == 1 ]]; then
  log "two gateways on Kafka + PostgreSQL"
  CLICKTAIL_BIN="$BIN" "$HERE/multinode.sh" || status=1
fi
exit $status
