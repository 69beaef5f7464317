#!/usr/bin/env bash
# Engine match: `clicktail match` with the 50,000 selective filters over the
# 1,000,000 generated events of perf/engine/run.sh (same files, same seed,
# kept in target/perf-engine/ and generated here if missing). Under
# callgrind, the first 100,000 events only.
# Figure: events/s (perf) or instructions per event (callgrind).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
dir="${1:?usage: engine-match.sh OUTPUT_DIR (run it through perf/run.sh)}"
build_release
work="$PERF_ROOT/target/perf-engine"
mkdir -p "$work"
[[ -s "$work/events-1m.jsonl" ]] || "$BIN" fixtures events --count 1000000 --seed 3 --out "$work/events-1m.jsonl"
[[ -s "$work/filters-50k.txt" ]] || "$BIN" fixtures filters selective --count 50000 --out "$work/filters-50k.txt"
events="$work/events-1m.jsonl" count=1000000
if [[ "$(profiler)" == callgrind ]]; then
    head -n 100000 "$work/events-1m.jsonl" > "$work/events-100k.jsonl"
    events="$work/events-100k.jsonl" count=100000
fi
started="$(date +%s.%N)"
profile_command "$dir" -- "$BIN" match --filters "$work/filters-50k.txt" --events "$events" > "$dir/matches.txt" 2> "$dir/log.txt"
ended="$(date +%s.%N)"
if [[ "$(profiler)" == callgrind ]]; then
    instructions="$(awk '/^(summary|totals):/ { print $2; exit }' "$dir/callgrind.out")"
    figure "$dir" instructions_per_event "$(echo "$instructions $count" | awk '{ printf "%.0f", $1 / $2 }')" instructions lower
else
    figure "$dir" match_events_per_second "$(echo "$started $ended $count" | awk '{ printf "%.0f", $3 / ($2 - $1) }')" events/s higher
fi
