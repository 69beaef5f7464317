# shellcheck shell=bash
# Sourced, not run: a worker and two gateway nodes (a, b) on the services of
# scripts/services.sh, with topics and a PostgreSQL schema of their own that
# are removed, with the processes, when the calling script exits. Used by
# tests/browser/multinode.sh and perf/gateway/e2e.sh.
#
#   two_nodes_up NAME PARTITIONS LOG_DIR [GATEWAY_ARGS...]
#
# Needs ROOT (the repository) and BIN (the clicktail binary). Sets RUN_ID,
# RAW, FILTERED, SCHEMA and NODE_A, NODE_B (host:port of each gateway, ready).
# Logs go to LOG_DIR/NAME-worker.log and LOG_DIR/NAME-gateway-{a,b}.{out,log}.

TWO_NODES_PIDS=()

two_nodes_down() {
  for pid in "${TWO_NODES_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${TWO_NODES_PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  psql "$CLICKTAIL_DATABASE_URL" -qc "DROP SCHEMA IF EXISTS $SCHEMA CASCADE" >/dev/null 2>&1 || true
  "$ROOT/scripts/services.sh" topics-delete "$RAW" >/dev/null 2>&1 || true
  "$ROOT/scripts/services.sh" topics-delete "$FILTERED" >/dev/null 2>&1 || true
}

two_nodes_up() {
  local name="$1" partitions="$2" logs="$3"
  shift 3
  eval "$("$ROOT/scripts/services.sh" up)"
  RUN_ID="${name:0:1}$(date +%s)$$"
  RAW="clicks-$RUN_ID" FILTERED="clicks-$RUN_ID.filtered" SCHEMA="ct_$RUN_ID"
  "$ROOT/scripts/services.sh" topics-create "$RAW" "$partitions" >&2
  "$ROOT/scripts/services.sh" topics-create "$FILTERED" "$partitions" >&2
  "$BIN" migrate --database-url "$CLICKTAIL_DATABASE_URL" --database-schema "$SCHEMA" >&2
  trap two_nodes_down EXIT

  local common=(--database-url "$CLICKTAIL_DATABASE_URL" --database-schema "$SCHEMA"
                --raw-topic "$RAW" --filtered-topic "$FILTERED")
  "$BIN" worker --brokers "$CLICKTAIL_KAFKA_BROKERS" "${common[@]}" --group "g-$RUN_ID" --threads 1 --no-pin \
    >"$logs/$name-worker.log" 2>&1 &
  TWO_NODES_PIDS+=($!)
  local node
  for node in a b; do
    # Port 0: the kernel picks; the address is read from the node's stdout.
    "$BIN" gateway --brokers "$CLICKTAIL_KAFKA_BROKERS" "${common[@]}" --listen 127.0.0.1:0 \
      --node-name "$node" --no-admin-token "$@" >"$logs/$name-gateway-$node.out" 2>"$logs/$name-gateway-$node.log" &
    TWO_NODES_PIDS+=($!)
  done
  # NODE_A and NODE_B are for the sourcing script; one assignment each, so
  # that `set -e` stops on either failing.
  # shellcheck disable=SC2034
  NODE_A="$(two_nodes_address "$logs" "$name" a)"
  # shellcheck disable=SC2034
  NODE_B="$(two_nodes_address "$logs" "$name" b)"
}

# Waits until the gateway prints its address and answers /readyz.
two_nodes_address() { # LOG_DIR NAME NODE
  local address
  for _ in $(seq 1 150); do
    address="$(grep -o '127\.0\.0\.1:[0-9]*' "$1/$2-gateway-$3.out" 2>/dev/null | head -1 || true)"
    if [[ -n "$address" ]] && curl -fsS "http://$address/readyz" >/dev/null 2>&1; then
      echo "$address"
      return 0
    fi
    sleep 0.2
  done
  echo "gateway $3 not ready; logs:" >&2
  cat "$1/$2"-*.log >&2
  return 1
}
