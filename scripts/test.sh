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
# The quick demo build of README.md (`--no-default-features`) compiles too.
cargo clippy -p clicktail --no-default-features --bins --locked -- -D warnings

if $quick; then
    step "unit tests (no services)"
    CLICKTAIL_SKIP_SERVICES=1 cargo test --workspace --locked
    exit 0
fi

step "services (a pair for the tests, and one for the chaos suite)"
scripts/services.sh up >/dev/null
# The chaos suite restarts and cuts off its Kafka and PostgreSQL, so it gets
# a pair of its own (ports 10 above the first pair's): the tests' pair is
# never restarted under anyone.
chaos_services=(env CLICKTAIL_SERVICES_DIR="$root/.cache/services-chaos"
    CLICKTAIL_PG_PORT="$((${CLICKTAIL_PG_PORT:-55432} + 10))"
    CLICKTAIL_KAFKA_PORT="$((${CLICKTAIL_KAFKA_PORT:-59092} + 10))"
    CLICKTAIL_KAFKA_CONTROLLER_PORT="$((${CLICKTAIL_KAFKA_CONTROLLER_PORT:-59093} + 10))")
chaos_exports="$("${chaos_services[@]}" scripts/services.sh up)"
finish() {
    "${chaos_services[@]}" scripts/services.sh down >/dev/null 2>&1 || true
    scripts/services.sh down >/dev/null 2>&1 || true
}
trap finish EXIT
# shellcheck disable=SC1091
source .cache/services/env

step "build (tests and binaries)"
cargo test --workspace --locked --no-run
cargo build --locked --bins -p clicktail -p clicktail-chaos

step "tests (unit, property, integration against Kafka and PostgreSQL)"
cargo test --workspace --locked

step "tests/filtered-topic/run.sh (docs/filtered-topic.md: kcat and Python read a worker's matches)"
tests/filtered-topic/run.sh

# One suite at a time: on two cores, suites run side by side made the
# tests' broker fence itself, consumer groups rebalance and browser tests
# time out (perf/results/first-run.md, 2026-12-04).
step "tests/browser/run.sh (the page tests, then two gateways on Kafka + PostgreSQL)"
tests/browser/run.sh

step "tests/deploy/run.sh"
tests/deploy/run.sh

step "tests/chaos/run.sh (on its own services)"
(eval "$chaos_exports" && "${chaos_services[@]}" tests/chaos/run.sh)

step "all tests passed"
