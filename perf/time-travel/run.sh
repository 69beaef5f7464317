#!/usr/bin/env bash
# Time travel (issue 12): 6,000,000 raw events over 5 minutes on 4
# partitions, one user.id backfill answered; against the live drain of the
# same topic. Appends a dated record to perf/results/time-travel.md.
#   flock /work/helpers/bench.lock perf/time-travel/run.sh
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
: "${CLICKTAIL_KAFKA_BROKERS:?source the services env (scripts/services.sh up)}"
cargo build --profile dist -p clicktail-engine --example time_travel_bench
out="$(mktemp)"
"$root/target/dist/examples/time_travel_bench" | tee "$out"
{
  echo "## $(date -u +%Y-%m-%dT%H:%MZ) commit $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- engine || echo +dirty)"
  echo
  echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load average at the end $(cut -d' ' -f1-3 /proc/loadavg)"
  echo
  echo '```'
  cat "$out"
  echo '```'
  echo
} >> perf/results/time-travel.md
rm -f "$out"
