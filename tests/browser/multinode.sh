#!/usr/bin/env bash
# Two gateway nodes and one worker on real Kafka + PostgreSQL (started by
# scripts/services.sh on loopback): the admin UI on node A, tracker.js
# ingesting through node B, events delivered to A; closing the admin's
# socket deletes its filter rows. Topics and the schema are unique per run.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
ARTIFACTS="$ROOT/target/artifacts"
# shellcheck disable=SC2034 # read by scripts/two-nodes.sh
BIN="${CLICKTAIL_BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/debug/clicktail}"
mkdir -p "$ARTIFACTS"
log() { printf 'multinode: %s\n' "$*" >&2; }

# shellcheck source=scripts/two-nodes.sh
source "$ROOT/scripts/two-nodes.sh"
two_nodes_up multinode 2 "$ARTIFACTS"
URL_A="http://$NODE_A"
URL_B="http://$NODE_B"

log "gateways ready: $URL_A (admin) and $URL_B (ingest)"
cd "$HERE"
CLICKTAIL_GATEWAY_URL="$URL_A" CLICKTAIL_INGEST_URL="$URL_B" \
  CLICKTAIL_FILTERS_TABLE="$SCHEMA.filters" CLICKTAIL_RAW_TOPIC="$RAW" \
  node --test --test-concurrency=1 multinode/
