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
# shellcheck disable=SC2034 # read by scripts/two-nodes.sh
BIN="$ROOT/target/release/clicktail"

# shellcheck source=scripts/two-nodes.sh
source "$ROOT/scripts/two-nodes.sh"
two_nodes_up e2e 4 "$LOGS" --history-window-events 0
A="$NODE_A" B="$NODE_B"
line="$("$ROOT/target/release/examples/e2e" "ws://$A" "ws://$B" "$RATE" "$SECONDS_" "$SESSIONS")"
machine="$(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -r)"
machine="$machine, load average before $(cut -d" " -f1-3 /proc/loadavg)"
printf '{"date":"%s","machine":"%s","commit":"%s","result":%s}\n' \
  "$(date -u +%FT%TZ)" "$machine" "$(git rev-parse --short HEAD)" "$line" | tee -a "$OUT"
