#!/usr/bin/env bash
# End to end: `clicktail demo` (in-memory log, worker, gateway) profiled
# while `clicktail loadgen` sends 3,000 events/s through /ingest and 300
# admin sessions with the default filter mix read the matches.
# Figure: end-to-end p99 latency from each event's creation to its arrival
# at a session, in microseconds (lower is better). The full report is in
# the run's loadgen.json and log.txt. Override with RATE, SESSIONS, DURATION_S.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
dir="${1:?usage: end-to-end.sh OUTPUT_DIR (run it through perf/run.sh)}"
build_release
if [[ "$(profiler)" == callgrind ]]; then default_rate=50; else default_rate=3000; fi
demo_with_loadgen "$dir" "${DURATION_S:-20}" --rate "${RATE:-$default_rate}" --sessions "${SESSIONS:-300}"
figure "$dir" end_to_end_p99_us "$(json_field "$dir/loadgen.json" latency.end_to_end.p99_us)" us lower
