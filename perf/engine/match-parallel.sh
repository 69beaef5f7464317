#!/usr/bin/env bash
# `clicktail match` on every core (issue 16, item 2), recorded in
# perf/results/match-parallel.md:
#
#   1. 50,000 `user.id == "u-N"` filters over 300,000 generated events whose
#      users are drawn from u-1..u-100000, so about half the events match one
#      filter, against `jq -c 'select(.user.id == "u-1")'` (one filter) on the
#      same file; output to /dev/null; runs alternate (ours, jq, ours, jq...);
#      wall and CPU (user + system) per run from /usr/bin/time.
#   2. The split of one run (--timings): filters parsed, compiled; events
#      read, matched (summed over threads), written.
#   3. A 1,000,000-event file matched with --threads 1, 2 and 8: stdout must
#      be byte-identical, and the summary too (timing left out).
#
#   perf/engine/match-parallel.sh [RUNS]     (default 5 runs of each command)
#   BIN=path/to/clicktail perf/engine/match-parallel.sh   to skip the build
#
# Run it alone on the machine: wall times mean little when other jobs run.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
runs="${1:-5}"
work="target/perf-match"
mkdir -p "$work"
if [[ -z "${BIN:-}" ]]; then
    cargo build --release -p clicktail
    BIN=target/release/clicktail
fi
command -v jq >/dev/null || { apt-get update -qq && apt-get install -y -qq jq >/dev/null; }

events="$work/events-300k.jsonl"
filters="$work/filters-50k.txt"
[[ -s "$events" ]] || "$BIN" fixtures events --count 300000 --seed 7 --users 100000 --out "$events"
[[ -s "$filters" ]] || "$BIN" fixtures filters selective --count 50000 --out "$filters"
echo "date: $(date -u +%Y-%m-%dT%H:%MZ)  commit: $(git rev-parse --short HEAD)  binary: $BIN  $(nproc) cores  load before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "events: $(wc -l < "$events") lines, $(( $(stat -c %s "$events") / $(wc -l < "$events") )) bytes/event"

# 1. Alternating runs: one line per run, "name wall_s cpu_s".
timed() {
    local name="$1"
    shift
    /usr/bin/time -f "$name %e %U %S" -o "$work/time.txt" "$@" > /dev/null 2> /dev/null
    awk '{ printf "%s %.2f %.2f\n", $1, $2, $3 + $4 }' "$work/time.txt"
}
for _ in $(seq "$runs"); do
    timed clicktail "$BIN" match --filters "$filters" --events "$events"
    timed jq jq -c 'select(.user.id == "u-1")' "$events"
done | tee "$work/runs.txt"
median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }
for figure in wall:2 cpu:3; do
    column="${figure#*:}"
    ours="$(awk -v c="$column" '$1 == "clicktail" { print $c }' "$work/runs.txt" | median)"
    theirs="$(awk -v c="$column" '$1 == "jq" { print $c }' "$work/runs.txt" | median)"
    echo "median ${figure%:*}: clicktail $ours s, jq $theirs s, jq/clicktail $(awk -v a="$theirs" -v b="$ours" 'BEGIN { printf "%.1f", a / b }')x"
done

# 2. Where the time goes.
for threads in 1 2; do
    "$BIN" match --filters "$filters" --events "$events" --threads "$threads" --timings 2>&1 > /dev/null | sed 's/^/  /'
done

# 3. Byte-identical output for 1, 2 and 8 threads on 1,000,000 events.
million="$work/events-1m-half.jsonl"
[[ -s "$million" ]] || "$BIN" fixtures events --count 1000000 --seed 3 --users 100000 --malformed-per-million 1000 --out "$million"
for threads in 1 2 8; do
    "$BIN" match --filters "$filters" --events "$million" --threads "$threads" > "$work/million-$threads.txt" 2> "$work/million-$threads.log"
    sed -E 's/ in [0-9.]+ s \([0-9]+ events\/s\)//' "$work/million-$threads.log" > "$work/million-$threads.summary"
done
for threads in 2 8; do
    cmp "$work/million-1.txt" "$work/million-$threads.txt"
    cmp "$work/million-1.summary" "$work/million-$threads.summary"
done
echo "1,000,000 events: stdout and summary identical for 1, 2 and 8 threads ($(wc -l < "$work/million-1.txt") matches, sha256 $(sha256sum < "$work/million-1.txt" | cut -c1-16))"
cat "$work/million-1.summary"
