#!/usr/bin/env bash
# Worker through Kafka: perf/worker's drain benchmark
# (engine/examples/worker_bench.rs: 2,000,000 clickstream events, 10,000
# filters, one round, real Kafka from scripts/services.sh on loopback)
# under the profiler. Figure: drain_worker_events_per_s (higher is better).
# Callgrind makes this one take hours; prefer perf.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
dir="${1:?usage: worker-kafka.sh OUTPUT_DIR (run it through perf/run.sh)}"
cd "$PERF_ROOT"
eval "$(scripts/services.sh up)"
cargo build --profile dist -p clicktail-engine --example worker_bench >&2
BENCH_ROUNDS=1 profile_command "$dir" -- "$PERF_ROOT/target/dist/examples/worker_bench" drain | tee "$dir/log.txt" >&2
rate="$(awk '/^drain_worker_events_per_s/ { print $2; exit }' "$dir/log.txt")"
[[ -n "$rate" ]] || { echo "worker_bench printed no drain_worker_events_per_s" >&2; exit 1; }
figure "$dir" drain_worker_events_per_s "$rate" events/s higher
