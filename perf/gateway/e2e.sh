#!/usr/bin/env bash
# End to end on the real broker: `clicktail loadgen` sends tracker-style
# batches to /ingest on gateway B; a worker matches them; gateway A delivers
# the matches to the loadgen's admin sessions. Kafka and PostgreSQL come from
# scripts/services.sh on loopback; topics and schema are unique per run and
# removed after. Appends one JSON line (the loadgen's report, compacted) to
# perf/gateway/e2e.jsonl and prints the loadgen's table on stderr.
#
#   perf/gateway/e2e.sh [RATE [SECONDS [SESSIONS [FILTER_MIX]]]]
#   (default 20000 10 100 user:80,type:8,text:8,all:2,mixed:2, the loadgen's mix;
#   `user:1` has every session watch one user). More loadgen flags through
#   LOADGEN_ARGS, e.g. LOADGEN_ARGS="--ingest-batch-ms 5 --ingest-connections 16".
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
OUT="$ROOT/perf/gateway/e2e.jsonl"
LOGS="$ROOT/target/artifacts"
RATE="${1:-20000}" SECONDS_="${2:-10}" SESSIONS="${3:-100}" MIX="${4:-user:80,type:8,text:8,all:2,mixed:2}"
mkdir -p "$LOGS"
cd "$ROOT"
cargo build --profile dist --locked --bin clicktail >&2
# shellcheck disable=SC2034 # read by scripts/two-nodes.sh
# CLICKTAIL_BIN: another build (a previous commit's, say), for a reference
# measured in the same session.
BIN="${CLICKTAIL_BIN:-$ROOT/target/dist/clicktail}"
load_before="$(cut -d" " -f1-3 /proc/loadavg)"

# shellcheck source=scripts/two-nodes.sh
source "$ROOT/scripts/two-nodes.sh"
two_nodes_up e2e 4 "$LOGS"
report="$LOGS/e2e-report.json"
read -r -a extra <<<"${LOADGEN_ARGS:-}"
"$BIN" loadgen --target gateway --gateway "$NODE_A" --ingest-gateway "$NODE_B" \
  --rate "$RATE" --duration-s "$SECONDS_" --sessions "$SESSIONS" --filter-mix "$MIX" \
  --drain-ms 3000 "${extra[@]}" --report "$report" >&2
machine="$(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -r)"
machine="$machine, load average before $load_before"
jq -c --arg date "$(date -u +%FT%TZ)" --arg machine "$machine" --arg commit "$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- engine gateway src || echo +dirty)${CLICKTAIL_BIN:+ (binary $CLICKTAIL_BIN)}" \
  '{date: $date, machine: $machine, commit: $commit, result: .}' "$report" | tee -a "$OUT"
