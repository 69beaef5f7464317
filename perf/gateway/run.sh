#!/usr/bin/env bash
# Gateway fan-out benchmark (gateway/examples/fanout.rs): idle memory and CPU
# per admin session, delivered frames/s, read-to-client latency. Appends one
# JSON line per run to perf/gateway/fanout.jsonl with the date and machine.
#
#   perf/gateway/run.sh                 # the recorded matrix
#   perf/gateway/run.sh 5000 5 20000    # one run: SESSIONS SECONDS RATE (0 = max)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
OUT="$ROOT/perf/gateway/fanout.jsonl"
cd "$ROOT"
cargo build --profile dist --locked -p clicktail-gateway --example fanout >&2
BIN="$ROOT/target/dist/examples/fanout"
machine="$(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -r)"
if [[ $# -gt 0 ]]; then runs=("$*"); else
  # Each process may hold 20,000 descriptors here (hard limit), so 19,000
  # sessions is the ceiling of one gateway process on this machine.
  runs=("1000 5 0" "10000 5 0" "10000 5 20000" "10000 5 50000" "19000 5 0" "19000 5 20000")
fi
for args in "${runs[@]}"; do
  # shellcheck disable=SC2086
  line="$("$BIN" $args | grep '^{')"
  printf '{"date":"%s","machine":"%s","commit":"%s","result":%s}\n' \
    "$(date -u +%FT%TZ)" "$machine" "$(git rev-parse --short HEAD)" "$line" | tee -a "$OUT"
done
