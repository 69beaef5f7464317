#!/usr/bin/env bash
# End-to-end latency on the real broker: tracker-style ingest through
# gateway B, a worker, delivery to admin sessions on gateway A
# (gateway/examples/e2e.rs). Services from scripts/services.sh on loopback;
# topics and schema unique per run and removed after. Appends one JSON line
# to perf/gateway/e2e.jsonl.
#
#   perf/gateway/e2e.sh [RATE [SECONDS [SESSIONS]]]     (default 20000 10 100)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
OUT="$ROOT/perf/gateway/e2e.jsonl"
LOGS="$ROOT/target/artifacts"
RATE="${1:-20000}" SECONDS_="${2:-10}" SESSIONS="${3:-100}"
mkdir -p "$LOGS"
cd "$ROOT"
cargo build --release --locked --bin clicktail >&2
cargo build --release --locked -p clicktail-gateway --example e2e >&2
BIN="$ROOT/target/release/clicktail"

eval "$(scripts/services.sh up)"
RUN_ID="e$(date +%s)$$"
RAW="clicks-$RUN_ID" FILTERED="clicks-$RUN_ID.filtered" SCHEMA="ct_$RUN_ID"
scripts/services.sh topics-create "$RAW" 4 >&2
scripts/services.sh topics-create "$FILTERED" 4 >&2
"$BIN" migrate --database-url "$CLICKTAIL_DATABASE_URL" --database-schema "$SCHEMA" >&2

PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  psql "$CLICKTAIL_DATABASE_URL" -qc "DROP SCHEMA IF EXISTS $SCHEMA CASCADE" >/dev/null 2>&1 || true
  scripts/services.sh topics-delete "$RAW" >/dev/null 2>&1 || true
  scripts/services.sh topics-delete "$FILTERED" >/dev/null 2>&1 || true
}
trap cleanup EXIT

common=(--database-url "$CLICKTAIL_DATABASE_URL" --database-schema "$SCHEMA" --raw-topic "$RAW" --filtered-topic "$FILTERED")
"$BIN" worker --brokers "$CLICKTAIL_KAFKA_BROKERS" "${common[@]}" --group "g-$RUN_ID" --threads 1 --no-pin \
  >"$LOGS/e2e-worker.log" 2>&1 &
PIDS+=($!)
for node in a b; do
  "$BIN" gateway --kafka-brokers "$CLICKTAIL_KAFKA_BROKERS" "${common[@]}" --listen 127.0.0.1:0 --node-name "$node" \
    --no-admin-token --history-window-events 0 >"$LOGS/e2e-gateway-$node.out" 2>"$LOGS/e2e-gateway-$node.log" &
  PIDS+=($!)
done
address_of() {
  for _ in $(seq 1 150); do
    url="$(grep -o '127\.0\.0\.1:[0-9]*' "$LOGS/e2e-gateway-$1.out" 2>/dev/null | head -1 || true)"
    if [[ -n "$url" ]] && curl -fsS "http://$url/readyz" >/dev/null 2>&1; then echo "$url"; return 0; fi
    sleep 0.2
  done
  cat "$LOGS"/e2e-*.log >&2; return 1
}
A="$(address_of a)" B="$(address_of b)"
line="$("$ROOT/target/release/examples/e2e" "ws://$A" "ws://$B" "$RATE" "$SECONDS_" "$SESSIONS")"
machine="$(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -r)"
machine="$machine, load average before $(cut -d" " -f1-3 /proc/loadavg)"
printf '{"date":"%s","machine":"%s","commit":"%s","result":%s}\n' \
  "$(date -u +%FT%TZ)" "$machine" "$(git rev-parse --short HEAD)" "$line" | tee -a "$OUT"
