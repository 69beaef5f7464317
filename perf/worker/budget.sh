#!/usr/bin/env bash
# Issue 12's budget target on the real Kafka of scripts/services.sh: the
# worker drains the same raw topic without, then with, one `*` session
# filter under its match budget (engine/examples/worker_bench.rs, `budget`).
# Targets: the `*` filter's records on the filtered topic <= 1.05x its
# budget over the drain, and the drain rate with it >= 0.95x without.
# Appends a dated record to perf/results/budgets.md. Sizes: BENCH_EVENTS
# (4,000,000), BENCH_FILTERS (10,000), BENCH_ROUNDS (3), BENCH_BUDGET (1,000).
#   flock /work/helpers/bench.lock perf/worker/budget.sh
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
# Services already running (CLICKTAIL_KAFKA_BROKERS set, e.g. from a shared
# .cache/services/env) are used as they are; otherwise started here.
[[ -n "${CLICKTAIL_KAFKA_BROKERS:-}" ]] || eval "$(scripts/services.sh up)"
cargo build --profile dist -p clicktail-engine --example worker_bench
out="$(mktemp)"
"$root/target/dist/examples/worker_bench" budget | tee "$out"
{
  echo "## $(date -u +%Y-%m-%dT%H:%MZ) commit $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- engine || echo +dirty)"
  echo
  echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load average at the end $(cut -d' ' -f1-3 /proc/loadavg)"
  echo
  echo '```'
  cat "$out"
  echo '```'
  echo
} >> perf/results/budgets.md
rm -f "$out"
