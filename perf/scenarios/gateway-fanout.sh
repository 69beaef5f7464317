#!/usr/bin/env bash
# Gateway fan-out: `clicktail demo` profiled while `clicktail loadgen` puts
# 1,000 events/s through /ingest and 100 admin sessions each stand on `*`,
# so every event is delivered 100 times (100,000 frames/s asked).
# Figure: the demo's CPU microseconds per delivered frame (lower is
# better; less sensitive to the shared machine's load than frames/s).
# Override with RATE, SESSIONS, DURATION_S.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
dir="${1:?usage: gateway-fanout.sh OUTPUT_DIR (run it through perf/run.sh)}"
build_release
if [[ "$(profiler)" == callgrind ]]; then default_rate=20; else default_rate=1000; fi
demo_with_loadgen "$dir" "${DURATION_S:-15}" --rate "${RATE:-$default_rate}" --sessions "${SESSIONS:-100}" --filter-mix all:1
frames="$(json_field "$dir/loadgen.json" counters.frames_received)"
[[ "$frames" -gt 0 ]] || { echo "no frame was delivered" >&2; exit 1; }
figure "$dir" demo_cpu_us_per_frame "$(echo "$(cat "$dir/demo_cpu_s") $frames" | awk '{ printf "%.2f", $1 * 1e6 / $2 }')" us lower
