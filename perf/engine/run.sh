#!/usr/bin/env bash
# Engine benchmarks of issue 2, recorded in perf/results/engine.md:
#
#   1. Criterion (bench/benches/matcher.rs): simd-json parse-only (the
#      baseline, same run), matching with the 50,000 selective filters (with
#      and without the raw prefilter) and the 1,000 mixed filters; one change
#      in 50,000 filters published; 1,000 changes published once.
#   2. `clicktail match` end to end, 50,000 filters over 1,000,000 events,
#      against `jq -c 'select(.user.id == "u-1")'` (one filter) over the same file.
#   3. Resident memory of the 50,000-filter set (clicktail match with 50,000
#      filters minus with 1 filter, same small event file).
#
#   perf/engine/run.sh            all three
#   perf/engine/run.sh criterion  only 1;  perf/engine/run.sh cli  only 2 and 3
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
what="${1:-all}"
out="perf/results/engine.md"
work="target/perf-engine"
mkdir -p "$work" perf/results

commit="$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- engine bench src || echo '+dirty')"
machine="$(nproc) cores, $(awk -F': ' '/model name/{print $2; exit}' /proc/cpuinfo), $(free -g | awk '/Mem:/{print $2}') GiB"
load="$(cut -d' ' -f1-3 /proc/loadavg)"
report="$work/report.txt"
: > "$report"
say() { echo "$*" | tee -a "$report"; }

say "date: $(date -u +%Y-%m-%dT%H:%MZ)  commit: $commit  machine: $machine  load before: $load"

if [[ "$what" == all || "$what" == criterion ]]; then
    cargo bench -p clicktail-bench --bench matcher -- --warm-up-time 2 --measurement-time 5 | tee "$work/criterion.txt"
    python3 - "$report" <<'PY'
import json, sys, pathlib
base = pathlib.Path("target/criterion")
def mean_ns(group, name):
    return json.loads((base / group / name / "new" / "estimates.json").read_text())["mean"]["point_estimate"]
events = 20_000
rows = []
parse = events / (mean_ns("engine", "parse_only") / 1e9)
for name in ["parse_only", "match_selective_50k", "match_selective_50k_no_prefilter", "match_mixed_1k"]:
    rate = events / (mean_ns("engine", name) / 1e9)
    rows.append(f"| engine/{name} | {rate:,.0f} events/s | {rate / parse:.2f}x parse-only |")
for name in ["one_change_in_50k_published", "thousand_changes_in_50k_one_publish"]:
    rows.append(f"| changes/{name} | {mean_ns('changes', name) / 1e6:.2f} ms | |")
with open(sys.argv[1], "a") as report:
    report.write("\n| criterion benchmark | figure | ratio |\n|---|---|---|\n" + "\n".join(rows) + "\n")
print("\n".join(rows))
PY
fi

if [[ "$what" == all || "$what" == cli ]]; then
    command -v jq >/dev/null || { apt-get update -qq && apt-get install -y -qq jq >/dev/null; }
    cargo build --profile dist -p clicktail
    bin=target/dist/clicktail
    [[ -s "$work/events-1m.jsonl" ]] || "$bin" fixtures events --count 1000000 --seed 3 --out "$work/events-1m.jsonl"
    "$bin" fixtures filters selective --count 50000 --out "$work/filters-50k.txt"
    echo 'user.id == "u-1"' > "$work/filters-1.txt"
    head -n 1000 "$work/events-1m.jsonl" > "$work/events-1k.jsonl"
    python3 - "$report" "$bin" "$work" <<'PY'
import os, subprocess, sys, time
report, binary, work = sys.argv[1:]
def run(command, stdout):
    started = time.perf_counter()
    with open(stdout, "wb") as sink:
        subprocess.run(command, stdout=sink, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - started
def best_of(runs, command, stdout):
    return min(run(command, stdout) for _ in range(runs))
ours = best_of(3, [binary, "match", "--filters", f"{work}/filters-50k.txt", "--events", f"{work}/events-1m.jsonl"], f"{work}/matches.txt")
jq = best_of(2, ["jq", "-c", 'select(.user.id == "u-1")', f"{work}/events-1m.jsonl"], f"{work}/jq.txt")
matches = sum(1 for _ in open(f"{work}/matches.txt"))
def peak_rss_kib(filters):
    process = subprocess.Popen([binary, "match", "--filters", filters, "--events", f"{work}/events-1k.jsonl"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, _, usage = os.wait4(process.pid, 0)
    return usage.ru_maxrss
set_mib = (peak_rss_kib(f"{work}/filters-50k.txt") - peak_rss_kib(f"{work}/filters-1.txt")) / 1024
rows = [
    f"| clicktail match, 50,000 filters, 1,000,000 events | {ours:.2f} s ({1e6 / ours:,.0f} events/s, {matches:,} matches) | |",
    f"| jq -c 'select(.user.id == \"u-1\")', same file | {jq:.2f} s ({1e6 / jq:,.0f} events/s) | clicktail {jq / ours:.1f}x faster |",
    f"| resident memory of the 50,000-filter set | {set_mib:.1f} MiB | |",
]
with open(report, "a") as out:
    out.write("\n| end to end | figure | ratio |\n|---|---|---|\n" + "\n".join(rows) + "\n")
print("\n".join(rows))
PY
fi

[[ -s "$out" ]] || printf '# Engine benchmarks (perf/engine/run.sh)\n' > "$out"
{
    echo
    echo "## $(head -n 1 "$report" | cut -c7-22)"
    echo
    cat "$report"
} >> "$out"
echo "recorded in $out"
