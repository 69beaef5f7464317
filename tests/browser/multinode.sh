#!/usr/bin/env bash
# Two gateway nodes and one worker on real Kafka + PostgreSQL (started by
# scripts/services.sh on loopback): the admin UI on node A, tracker.js
# ingesting through node B, events delivered to A; closing the admin's
# socket deletes its filter rows. Topics and the schema are unique per run.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
ARTIFACTS="$ROOT/target/artifacts"
BIN="${CLICKTAIL_BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/debug/clicktail}"
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
  # Port 0: the kernel picks; the address is read from the node's stdout.
  "$BIN" gateway --kafka-brokers "$CLICKTAIL_KAFKA_BROKERS" "${common[@]}" --listen "127.0.0.1:0" \
    --node-name "$node" --no-admin-token >"$ARTIFACTS/multinode-gateway-$node.out" \
    2>"$ARTIFACTS/multinode-gateway-$node.log" &
  PIDS+=($!)
done
address_of() { # node
  for _ in $(seq 1 150); do
    url="$(grep -o 'http://127\.0\.0\.1:[0-9]*' "$ARTIFACTS/multinode-gateway-$1.out" 2>/dev/null | head -1 || true)"
    if [[ -n "$url" ]] && curl -fsS "$url/readyz" >/dev/null 2>&1; then echo "$url"; return 0; fi
    sleep 0.2
  done
  log "gateway $1 not ready"; cat "$ARTIFACTS"/multinode-*.log >&2; return 1
}
URL_A="$(address_of a)"
URL_B="$(address_of b)"

log "gateways ready: $URL_A (admin) and $URL_B (ingest)"
cd "$HERE"
CLICKTAIL_GATEWAY_URL="$URL_A" CLICKTAIL_INGEST_URL="$URL_B" \
  CLICKTAIL_FILTERS_TABLE="$SCHEMA.filters" CLICKTAIL_RAW_TOPIC="$RAW" \
  node --test --test-concurrency=1 multinode/
