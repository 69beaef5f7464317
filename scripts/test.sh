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
trap 'scripts/services.sh down >/dev/null 2>&1 || true' EXIT
# shellcheck disable=SC1091
source .cache/services/env

step "tests (unit, property, integration against Kafka and PostgreSQL)"
cargo test --workspace --locked

step "tests/filtered-topic/run.sh (docs/filtered-topic.md: kcat and Python read a worker's matches)"
tests/filtered-topic/run.sh

# The chaos suite restarts Kafka and PostgreSQL (and leaves them up): it
# runs after every test that shares them.
for suite in tests/browser/run.sh tests/deploy/run.sh tests/chaos/run.sh; do
    if [[ -x "$suite" ]]; then
        step "$suite"
        "$suite"
    fi
done

step "all tests passed"
