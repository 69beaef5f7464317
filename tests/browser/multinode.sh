#!/usr/bin/env bash
# Two gateway nodes and one worker on real Kafka + PostgreSQL (started by
# scripts/services.sh on loopback): the admin UI on node A, tracker.js
# ingesting through node B, events delivered to A; closing the admin's
# socket deletes its filter rows. Topics and the schema are unique per run.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
ARTIFACTS="$ROOT/target/artifacts"
BIN="${CLICKTAIL_BIN:-$ROOT/target/debug/clicktail}"
PORT_A="${CLICKTAIL_BROWSER_PORT_A:-18081}"
PORT_B="${CLICKTAIL_BROWSER_PORT_B:-18082}"
mkdir -p "$ARTIFACTS"
log() { printf 'multinode: %s\n' "$*" >&2; }

eval "$("$ROOT/scripts/services.sh" up)"
RUN_ID="b$(date +%s)$$"
RAW="clicks-$RUN_ID"
FILTERED="clicks-$RUN_ID.filtered"
SCHEMA="ct_$RUN_ID"
"$ROOT/scripts/services.sh" topics-create "$RAW" 2
"$ROOT/scripts/services.sh" topics-create "$FILTERED" 2
"$BIN" migrate --database-url "$CLICKTAIL_DATABASE_URL" --database-schema "$SCHEMA" >&2

PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  psql "$CLICKTAIL_DATABASE_URL" -qc "DROP SCHEMA IF EXISTS $SCHEMA CASCADE" >/dev/null 2>&1 || true
  "$ROOT/scripts/services.sh" topics-delete "$RAW" >/dev/null 2>&1 || true
  "$ROOT/scripts/services.sh" topics-delete "$FILTERED" >/dev/null 2>&1 || true
}
trap cleanup EXIT

common=(--database-url "$CLICKTAIL_DATABASE_URL" --database-schema "$SCHEMA"
        --raw-topic "$RAW" --filtered-topic "$FILTERED")
"$BIN" worker --brokers "$CLICKTAIL_KAFKA_BROKERS" "${common[@]}" --group "g-$RUN_ID" --threads 1 --no-pin \
  >"$ARTIFACTS/multinode-worker.log" 2>&1 &
PIDS+=($!)
for node in a b; do
  port=$PORT_A; [[ $node == b ]] && port=$PORT_B
  "$BIN" gateway --kafka-brokers "$CLICKTAIL_KAFKA_BROKERS" "${common[@]}" --listen "127.0.0.1:$port" \
    --node-name "$node" --no-admin-token >"$ARTIFACTS/multinode-gateway-$node.log" 2>&1 &
  PIDS+=($!)
done
for port in $PORT_A $PORT_B; do
  for _ in $(seq 1 150); do
    curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
    sleep 0.2
  done
  curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null || { log "gateway on $port not ready"; cat "$ARTIFACTS"/multinode-*.log >&2; exit 1; }
done

log "gateways ready on $PORT_A (admin) and $PORT_B (ingest)"
cd "$HERE"
CLICKTAIL_GATEWAY_URL="http://127.0.0.1:$PORT_A" CLICKTAIL_INGEST_URL="http://127.0.0.1:$PORT_B" \
  CLICKTAIL_FILTERS_TABLE="$SCHEMA.filters" CLICKTAIL_RAW_TOPIC="$RAW" \
  node --test --test-concurrency=1 multinode/
