#!/usr/bin/env bash
# 50,000 admin sessions on one host whose processes may hold only 20,000
# descriptors each: 3 gateway processes share one port (--reuse-port), each
# a whole node on its own in-memory log, and 4 client processes open the
# sessions from 127.0.0.x source addresses, each session subscribed to its
# own filter (gateway/examples/fanout.rs, `multi` mode). Reports total RSS
# growth per idle session, idle CPU of all servers (% of one core), frames
# per server CPU-second and the read latency p50/p99 at RATE records/s
# (spread evenly over the servers). Appends one JSON line to sessions.jsonl.
#
#   perf/gateway/sessions-50k.sh                  # 3 servers, 4 clients, 50,000 sessions, 10 s at 20,000/s
#   perf/gateway/sessions-50k.sh 3 4 50000 10 0   # SERVERS CLIENTS SESSIONS SECONDS RATE (0 = max)
#
# Where one process may hold 60,000 descriptors (`ulimit -n 60000` works),
# the single-process run is `perf/gateway/run.sh 50000 10 20000`.
# Run it under the machine's benchmark lock when others share the box:
#   flock /work/helpers/bench.lock perf/gateway/sessions-50k.sh
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
OUT="$ROOT/perf/gateway/sessions.jsonl"
cd "$ROOT"
servers="${1:-3}" clients="${2:-4}" sessions="${3:-50000}" seconds="${4:-10}" rate="${5:-20000}"
per_process=$(( (sessions + clients - 1) / clients ))
limit="$(ulimit -n)"
if (( per_process + 64 > limit || sessions / servers + 2000 > limit )); then
  echo "each process needs about $per_process (clients) and $((sessions / servers)) (servers, the kernel's spread is uneven) descriptors; ulimit -n is $limit: add servers or clients" >&2
  exit 1
fi
cargo build --release --locked -p clicktail-gateway --example fanout >&2
BIN="$ROOT/target/release/examples/fanout"
machine="$(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -r)"
load="$(cut -d' ' -f1-3 /proc/loadavg)"
# Bounded: setup, 10 s idle, the flood and the drain take about a minute.
line="$(timeout 600 "$BIN" multi "$servers" "$clients" "$sessions" "$seconds" "$rate" | grep '^{')"
printf '{"date":"%s","machine":"%s","load_before":"%s","commit":"%s","result":%s}\n' \
  "$(date -u +%FT%TZ)" "$machine" "$load" "$(git rev-parse --short HEAD)" "$line" | tee -a "$OUT"
