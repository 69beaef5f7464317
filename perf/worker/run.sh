#!/usr/bin/env bash
# Worker benchmarks of issue 3 (drain ratio with 10,000 filters; filter
# propagation p99 with 50,000 filters at 500 changes/s) on the real
# services; appends a dated record to perf/results/worker.md.
#   perf/worker/run.sh [drain|propagation|all]
# The drain's events and filters: BENCH_MIX=clickstream (default), users
# (issue 16's table: 10,000 user.id filters, 0.5% of events matching) or
# synthetic; every BENCH_* setting is listed in engine/examples/worker_bench.rs.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
eval "$(scripts/services.sh up)"
# The drain's reference of issue 16.
command -v kcat >/dev/null || scripts/apt-install.sh kcat
cargo build --profile dist -p clicktail-engine --example worker_bench
out="$(mktemp)"
"$root/target/dist/examples/worker_bench" "${1:-all}" | tee "$out"
{
  # "+dirty": engine/ had uncommitted changes when this ran.
  echo "## $(date -u +%Y-%m-%dT%H:%MZ) commit $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- engine || echo +dirty)"
  echo
  echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(free -g | awk '/Mem:/{print $2}') GiB, load average at the end $(cut -d' ' -f1-3 /proc/loadavg)"
  echo
  echo '```'
  cat "$out"
  echo '```'
  echo
} >> perf/results/worker.md
rm -f "$out"
