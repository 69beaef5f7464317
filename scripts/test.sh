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

# A step that runs beside another, its output kept in target/<name>.log
# and printed when both have ended.
start_beside() {
    beside_name="$1"
    shift
    mkdir -p "$root/target"
    "$@" >"$root/target/$beside_name.log" 2>&1 &
    beside_pid=$!
}
# Waits for the step beside; exits non-zero if it or the foreground step
# (whose status is $1) failed.
end_beside() {
    local status=0
    wait "$beside_pid" || status=$?
    step "$beside_name: $( ((status == 0)) && echo passed || echo FAILED)"
    cat "$root/target/$beside_name.log" >&2
    if (($1 != 0 || status != 0)); then
        exit 1
    fi
}

step "toolchain"
scripts/ensure-build-deps.sh

step "format"
cargo fmt --all -- --check

# Clippy with warnings denied, on the whole workspace and on the crates of
# the quick demo build of README.md (`--no-default-features`), so that code
# only the left-out features use cannot hide there.
lint() {
    cargo clippy --workspace --all-targets --locked -- -D warnings
    cargo clippy -p clicktail -p clicktail-engine -p clicktail-gateway -p clicktail-bench \
        --no-default-features --lib --bins --locked -- -D warnings
}

if $quick; then
    step "lint"
    lint
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

# The lint runs beside the cargo tests, which leave the CPU about 70% idle
# while they wait on Kafka, PostgreSQL and child processes: at idle
# priority, so it only takes what they leave, and in a target directory of
# its own, so that neither waits for the other's cargo lock (it rebuilds
# librdkafka there, in that idle time). perf/results/first-run.md has the
# arrangements tried.
idle_lint() {
    chrt --idle --pid 0 "$BASHPID"
    export CARGO_TARGET_DIR="$root/target/lint"
    lint
}
step "tests (unit, property, integration against Kafka and PostgreSQL), the lint beside them"
start_beside lint idle_lint
tests_status=0
scripts/cargo-tests.sh || tests_status=$?
end_beside "$tests_status"

# The browser suite alone: beside other suites on two cores, its page tests
# timed out and the tests' broker fenced itself (perf/results/first-run.md,
# 2026-12-04).
step "tests/browser/run.sh (the page tests, then two gateways on Kafka + PostgreSQL)"
tests/browser/run.sh

# The chaos suite spends most of its time waiting out its faults; two short
# suites on the tests' own services run beside it: docs/filtered-topic.md
# (kcat and Python read a worker's matches) and the deployment checks.
short_suites() {
    tests/filtered-topic/run.sh
    tests/deploy/run.sh
}
step "tests/chaos/run.sh (on its own services), beside tests/filtered-topic/run.sh and tests/deploy/run.sh"
start_beside filtered-topic-and-deploy short_suites
chaos_status=0
(eval "$chaos_exports" && "${chaos_services[@]}" tests/chaos/run.sh) || chaos_status=$?
end_beside "$chaos_status"

step "all tests passed"
