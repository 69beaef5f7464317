#!/usr/bin/env bash
# Prints the ratio of a new run of SCENARIO to its last recorded baseline
# (same profiler and unit). Runs the scenario first unless --no-run, in
# which case perf/out/SCENARIO/latest is compared.
#
#   perf/compare.sh SCENARIO [--no-run]
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/lib.sh"
scenario="${1:?usage: perf/compare.sh SCENARIO [--no-run]}"
[[ "${2:-}" == --no-run ]] || "$here/run.sh" "$scenario"
latest="$PERF_ROOT/perf/out/$scenario/latest/figure.tsv"
[[ -f "$latest" ]] || { echo "no run of $scenario in perf/out: run perf/run.sh $scenario" >&2; exit 1; }
IFS=$'\t' read -r name value unit better < "$latest"
kind="$(profiler)"
baseline="$(awk -F'\t' -v s="$scenario" -v p="$kind" -v u="$unit" '$2 == s && $3 == p && $6 == u { line = $0 } END { print line }' "$BASELINES" 2>/dev/null)"
[[ -n "$baseline" ]] || { echo "no $kind baseline of $scenario in $unit in $BASELINES" >&2; exit 1; }
IFS=$'\t' read -r b_date _ _ _ b_value _ _ b_machine b_commit b_load <<< "$baseline"
python3 - "$scenario" "$name" "$value" "$unit" "$better" "$b_value" "$b_date" "$b_commit" "$b_machine" "$b_load" <<'PY'
import sys
scenario, name, value, unit, better, base, date, commit, machine, load = sys.argv[1:]
value, base = float(value), float(base)
ratio = value / base if base else float("inf")
improved = ratio > 1 if better == "higher" else ratio < 1
verdict = "same" if abs(ratio - 1) < 0.05 else ("better" if improved else "WORSE")
print(f"{scenario}: {name} {value:,.1f} {unit} vs baseline {base:,.1f} ({date}, {commit}, load {load})")
print(f"ratio new/baseline {ratio:.3f} ({better} is better): {verdict}")
PY
