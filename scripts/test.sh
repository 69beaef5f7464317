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

step "services"
scripts/services.sh up >/dev/null
background_pids=()
finish() {
    for pid in "${background_pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    scripts/services.sh down >/dev/null 2>&1 || true
}
trap finish EXIT
# shellcheck disable=SC1091
source .cache/services/env

step "tests (unit, property, integration against Kafka and PostgreSQL)"
cargo test --workspace --locked

step "tests/filtered-topic/run.sh (docs/filtered-topic.md: kcat and Python read a worker's matches)"
tests/filtered-topic/run.sh

# The browser suite's page tests run against a demo of their own (no
# services) and the chaos suite mostly waits out its outages, so the two
# run side by side: about 2.5 minutes off the suite on two cores. The chaos
# suite restarts Kafka and PostgreSQL (and leaves them up), so it runs after
# every test that shares them, and the browser's multi-node test after it.
step "tests/browser/run.sh --no-services (beside the next two, output below when done)"
cargo build --locked --bins -p clicktail -p clicktail-chaos
bin_dir="${CARGO_TARGET_DIR:-$root/target}/debug"
browser_log="$bin_dir/browser-suite.log"
tests/browser/run.sh --no-services >"$browser_log" 2>&1 &
browser_pid=$!
background_pids+=("$browser_pid")
step "tests/deploy/run.sh"
tests/deploy/run.sh
step "tests/chaos/run.sh"
tests/chaos/run.sh
step "tests/browser/run.sh --no-services: waiting for it to end"
browser_status=0
wait "$browser_pid" || browser_status=$?
cat "$browser_log" >&2
if [[ $browser_status -ne 0 ]]; then
    echo "tests/browser/run.sh --no-services failed (exit $browser_status): output above" >&2
    exit "$browser_status"
fi
step "tests/browser/multinode.sh (two gateways on Kafka + PostgreSQL)"
CLICKTAIL_BIN="$bin_dir/clicktail" tests/browser/multinode.sh

step "all tests passed"
