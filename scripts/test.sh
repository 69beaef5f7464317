#!/usr/bin/env bash
# The whole test suite, from a fresh machine: the command README.md gives
# and the one .ci/run calls. It installs what it uses, starts the real
# services (PostgreSQL, Kafka) on loopback, runs every check, stops the
# services, and exits non-zero when anything fails.
#
#   scripts/test.sh            everything
#   scripts/test.sh --quick    format, lint and unit tests only (no services)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

quick=false
if [[ "${1:-}" == "--quick" ]]; then
    quick=true
fi

# Each step says how long the run has taken so far: the suite must stay
# well under CI's budget, and this shows which step grew.
started_s=$SECONDS

# In CI every build starts from an empty (or restored) target/: incremental
# compilation only writes its cache there, which costs time and disk and is
# never read again. A developer's own run keeps it (cargo's default).
if [[ -n "${CI:-}" ]]; then
    export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"
fi
step() { printf '\n==> [%ds] %s\n' "$((SECONDS - started_s))" "$*" >&2; }

step "toolchain"
scripts/ensure-build-deps.sh

step "format"
cargo fmt --all -- --check

step "lint"
cargo clippy --workspace --all-targets --locked -- -D warnings

if $quick; then
    step "unit tests (no services)"
    CLICKTAIL_SKIP_SERVICES=1 cargo test --workspace --locked
    exit 0
fi

step "services (a pair for the tests, and one for the chaos suite)"
scripts/services.sh up >/dev/null
# The chaos suite restarts and cuts off its Kafka and PostgreSQL, so it gets
# a pair of its own (ports 10 above the first pair's) and can run beside
# other suites.
chaos_services=(env CLICKTAIL_SERVICES_DIR="$root/.cache/services-chaos"
    CLICKTAIL_PG_PORT="$((${CLICKTAIL_PG_PORT:-55432} + 10))"
    CLICKTAIL_KAFKA_PORT="$((${CLICKTAIL_KAFKA_PORT:-59092} + 10))"
    CLICKTAIL_KAFKA_CONTROLLER_PORT="$((${CLICKTAIL_KAFKA_CONTROLLER_PORT:-59093} + 10))")
chaos_exports="$("${chaos_services[@]}" scripts/services.sh up)"
background_pids=()
finish() {
    for pid in "${background_pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    "${chaos_services[@]}" scripts/services.sh down >/dev/null 2>&1 || true
    scripts/services.sh down >/dev/null 2>&1 || true
}
trap finish EXIT
# shellcheck disable=SC1091
source .cache/services/env

# Waits for a suite started in the background, prints its output, and
# stops the run if it failed.
await() { # name pid log
    local status=0
    wait "$2" || status=$?
    cat "$3" >&2
    if [[ $status -ne 0 ]]; then
        echo "$1 failed (exit $status): its output is above" >&2
        exit "$status"
    fi
}

step "build (tests and binaries)"
cargo test --workspace --locked --no-run
cargo build --locked --bins -p clicktail -p clicktail-chaos
logs="${CARGO_TARGET_DIR:-$root/target}/suite-logs"
mkdir -p "$logs"

step "tests (unit, property, integration against Kafka and PostgreSQL)"
cargo test --workspace --locked

# After the cargo tests, the chaos suite (on its pair) and the browser
# suite's page tests (against a demo of their own, no services) run side by
# side and beside the last steps; the browser's multi-node test runs at the
# end, alone. Not beside the cargo tests: under that load their consumer
# groups rebalanced, a backfill test read matches twice, and once the tests'
# broker, starved of CPU, fenced itself (perf/results/first-run.md).
step "tests/chaos/run.sh on its own services (beside what follows; output below when done)"
(eval "$chaos_exports" && "${chaos_services[@]}" tests/chaos/run.sh) >"$logs/chaos.log" 2>&1 &
chaos_pid=$!
background_pids+=("$chaos_pid")

step "tests/browser/run.sh --no-services (beside what follows; output below when done)"
tests/browser/run.sh --no-services >"$logs/browser.log" 2>&1 &
browser_pid=$!
background_pids+=("$browser_pid")

step "tests/filtered-topic/run.sh (docs/filtered-topic.md: kcat and Python read a worker's matches)"
tests/filtered-topic/run.sh

step "tests/deploy/run.sh"
tests/deploy/run.sh

step "tests/chaos/run.sh: waiting for it to end"
await tests/chaos/run.sh "$chaos_pid" "$logs/chaos.log"
step "tests/browser/run.sh --no-services: waiting for it to end"
await "tests/browser/run.sh --no-services" "$browser_pid" "$logs/browser.log"

step "tests/browser/multinode.sh (two gateways on Kafka + PostgreSQL)"
CLICKTAIL_BIN="${CARGO_TARGET_DIR:-$root/target}/debug/clicktail" tests/browser/multinode.sh

step "all tests passed"
