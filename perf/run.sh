#!/usr/bin/env bash
# Runs one profiling scenario, leaves its flame graph and figure in
# perf/out/SCENARIO/latest/, and records the figure as a baseline in
# perf/results/baselines.tsv when asked (--baseline) or when the scenario
# has none yet for this profiler.
#
#   perf/run.sh SCENARIO [--baseline]
#   SCENARIO: engine-match | worker-kafka | gateway-fanout | end-to-end
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/lib.sh"
scenario="${1:-}"
script="$here/scenarios/$scenario.sh"
[[ -n "$scenario" && -x "$script" ]] || { echo "usage: perf/run.sh {$(ls "$here/scenarios" | sed 's/\.sh$//' | paste -sd'|')} [--baseline]" >&2; exit 2; }
dir="$(new_run "$scenario")"
cut -d' ' -f1-3 /proc/loadavg > "$dir/load.txt"
echo "perf/run.sh $scenario: profiler $(profiler), output $dir" >&2
"$script" "$dir"
flame "$dir" "clicktail $scenario ($(commit))"
if [[ "${2:-}" == --baseline ]] || ! grep -q $'\t'"$scenario"$'\t'"$(profiler)"$'\t' "$BASELINES" 2>/dev/null; then
    record_baseline "$scenario" "$dir"
fi
