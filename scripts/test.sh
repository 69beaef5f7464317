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

lint=(cargo clippy --workspace --all-targets --locked -- -D warnings)
if $quick; then
    step "lint"
    "${lint[@]}"
    step "unit tests (no services)"
    CLICKTAIL_SKIP_SERVICES=1 cargo test --workspace --locked
    exit 0
fi

# The lint runs beside everything else at idle priority (SCHED_IDLE): on two
# cores it only takes the CPU the build and the tests leave, so it slows no
# timed test, and the suite no longer waits about 100 s for it first. It has
# a target directory of its own, or the build and the tests would wait for
# its lock on target/. It runs in a process group of its own (setsid), so
# that an early exit stops its compilers too; its verdict is awaited at the end.
lint_dir="$root/target/lint"
mkdir -p "$lint_dir"
step "lint (in the background at idle priority; output in target/lint/clippy.log)"
CARGO_TARGET_DIR="$lint_dir" setsid chrt --idle 0 "${lint[@]}" >"$lint_dir/clippy.log" 2>&1 &
lint_pid=$!

# The chaos suite restarts and cuts off its Kafka and PostgreSQL, so it gets
# a pair of its own (ports 10 above the first pair's): the tests' pair is
# never restarted under anyone.
chaos_services=(env CLICKTAIL_SERVICES_DIR="$root/.cache/services-chaos"
    CLICKTAIL_PG_PORT="$((${CLICKTAIL_PG_PORT:-55432} + 10))"
    CLICKTAIL_KAFKA_PORT="$((${CLICKTAIL_KAFKA_PORT:-59092} + 10))"
    CLICKTAIL_KAFKA_CONTROLLER_PORT="$((${CLICKTAIL_KAFKA_CONTROLLER_PORT:-59093} + 10))")
chaos_exports_file="$root/.cache/services-chaos.exports"
finish() {
    kill -TERM -- "-$lint_pid" 2>/dev/null || true
    # Services still starting are brought down once they are up.
    [[ -z "${services_pid:-}" ]] || wait "$services_pid" 2>/dev/null || true
    "${chaos_services[@]}" scripts/services.sh down >/dev/null 2>&1 || true
    scripts/services.sh down >/dev/null 2>&1 || true
}
trap finish EXIT

# The services start while the tests build (their JVMs and initdb need
# little CPU beside the compilers).
step "services (a pair for the tests, and one for the chaos suite; started in the background) and build (tests and binaries)"
mkdir -p "$root/.cache"
(scripts/services.sh up >/dev/null && "${chaos_services[@]}" scripts/services.sh up >"$chaos_exports_file") &
services_pid=$!
cargo test --workspace --locked --no-run
cargo build --locked --bins -p clicktail -p clicktail-chaos
if ! wait "$services_pid"; then
    echo "test.sh: starting the services failed (above)" >&2
    exit 1
fi
# shellcheck disable=SC1091
source .cache/services/env

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
(eval "$(cat "$chaos_exports_file")" && "${chaos_services[@]}" tests/chaos/run.sh)

step "lint (waiting for the background clippy)"
if ! wait "$lint_pid"; then
    cat "$lint_dir/clippy.log" >&2
    echo "test.sh: the lint failed (above)" >&2
    exit 1
fi
tail -n 1 "$lint_dir/clippy.log" >&2

step "all tests passed"
