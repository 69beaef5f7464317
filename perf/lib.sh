# Shared by perf/run.sh, perf/compare.sh and perf/scenarios/*.sh; sourced,
# not run. Picks the profiler, turns its output into a flame graph, and
# records figures.
#
# Every scenario writes into perf/out/SCENARIO/STAMP/ (gitignored):
#   perf.data or callgrind.out   the raw profile
#   folded.txt                   stacks folded for inferno
#   flame.svg                    the flame graph
#   figure.tsv                   one line: name value unit better(higher|lower)
#   log.txt                      what the workload printed
# and points perf/out/SCENARIO/latest at it.

PERF_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BASELINES="$PERF_ROOT/perf/results/baselines.tsv"
BIN="$PERF_ROOT/target/dist/clicktail"
# Sampling rate: 499 Hz (a prime, so it does not beat with periodic work)
# keeps perf's own cost near 1% on the 2-core machine.
PERF_FREQUENCY_HZ="${CLICKTAIL_PERF_FREQUENCY_HZ:-499}"

# perf when the kernel lets us record call graphs, else callgrind
# (instruction counts: repeatable on a noisy shared machine, ~50x slower).
profiler() {
    if [[ -n "${CLICKTAIL_PROFILER:-}" ]]; then echo "$CLICKTAIL_PROFILER"; return; fi
    if command -v perf >/dev/null && perf record -g -o /dev/null true >/dev/null 2>&1; then
        echo perf
    elif command -v valgrind >/dev/null; then
        echo callgrind
    else
        echo "neither perf nor valgrind is usable: install linux-perf or valgrind" >&2
        return 1
    fi
}

ensure_inferno() {
    command -v inferno-flamegraph >/dev/null && return
    [[ -x "$HOME/.cargo/bin/inferno-flamegraph" ]] && { export PATH="$HOME/.cargo/bin:$PATH"; return; }
    echo "installing inferno (cargo install inferno --locked)" >&2
    cargo install inferno --locked >&2
    export PATH="$HOME/.cargo/bin:$PATH"
}

# new_run SCENARIO: creates the output directory and prints its path.
new_run() {
    local dir="$PERF_ROOT/perf/out/$1/$(date -u +%Y%m%dT%H%M%SZ)"
    mkdir -p "$dir"
    ln -sfn "$dir" "$PERF_ROOT/perf/out/$1/latest"
    echo "$dir"
}

build_release() {
    (cd "$PERF_ROOT" && cargo build --profile dist -p clicktail >&2)
}

# profile_command DIR -- COMMAND...: runs COMMAND under the profiler.
# perf: DWARF unwinding (Rust release builds omit frame pointers, so `-g`'s
# default frame-pointer walk would stop at the first frame); the release
# profile keeps line tables for it.
profile_command() {
    local dir="$1"; shift; [[ "$1" == "--" ]] && shift
    case "$(profiler)" in
        perf) perf record -F "$PERF_FREQUENCY_HZ" --call-graph dwarf,16384 -o "$dir/perf.data" -- "$@" ;;
        callgrind) valgrind --tool=callgrind --callgrind-out-file="$dir/callgrind.out" -- "$@" ;;
    esac
}

# profile_pid DIR PID SECONDS: attaches to a running process (perf only;
# callgrind cannot attach, so the scenario must start its process under
# valgrind instead: see start_profiled).
profile_pid() {
    perf record -F "$PERF_FREQUENCY_HZ" --call-graph dwarf,16384 -o "$1/perf.data" -p "$2" -- sleep "$3"
}

# start_profiled DIR COMMAND...: starts COMMAND in the background, under
# callgrind if that is the profiler (perf attaches later with profile_pid);
# prints the pid.
start_profiled() {
    local dir="$1"; shift
    if [[ "$(profiler)" == callgrind ]]; then
        valgrind --tool=callgrind --callgrind-out-file="$dir/callgrind.out" -- "$@" >"$dir/process.out" 2>"$dir/process.err" &
    else
        "$@" >"$dir/process.out" 2>"$dir/process.err" &
    fi
    echo $!
}

# flame DIR TITLE: folded stacks and flame.svg from whichever profile exists.
flame() {
    local dir="$1" title="$2"
    ensure_inferno
    if [[ -f "$dir/perf.data" ]]; then
        perf script -i "$dir/perf.data" 2>/dev/null | inferno-collapse-perf > "$dir/folded.txt"
    elif [[ -f "$dir/callgrind.out" ]]; then
        # Callgrind keeps caller/callee pairs, not whole stacks: the graph
        # is flat (one frame per function, width = its own instructions).
        # Only the per-function table (after the `file:function` header,
        # up to the first blank line); `path:` and ` [object]` are cut.
        callgrind_annotate --threshold=100 --auto=no "$dir/callgrind.out" 2>/dev/null |
            awk '/file:function/ { table = 1; next }
                 table && /^$/ && seen { exit }
                 table && /^ *[0-9,]+ \(/ {
                     seen = 1; cost = $1; gsub(",", "", cost)
                     line = $0; sub(/^ *[0-9,]+ \( *[0-9.]+%\) +/, "", line); sub(/^[^:]*:/, "", line)
                     sub(/ \[[^]]*\]$/, "", line); gsub(";", ":", line); gsub(/ /, "_", line)
                     if (cost > 0) print line " " cost
                 }' > "$dir/folded.txt"
    fi
    inferno-flamegraph --title "$title" < "$dir/folded.txt" > "$dir/flame.svg"
    echo "flame graph: $dir/flame.svg" >&2
}

# figure DIR NAME VALUE UNIT BETTER: the scenario's headline figure.
figure() {
    printf '%s\t%s\t%s\t%s\n' "$2" "$3" "$4" "$5" > "$1/figure.tsv"
    echo "figure: $2 = $3 $4 ($5 is better, profiler $(profiler))" >&2
}

machine() {
    echo "$(nproc) cores $(awk -F': ' '/model name/{print $2; exit}' /proc/cpuinfo | tr -s ' ') $(free -g | awk '/Mem:/{print $2}') GiB"
}

commit() {
    (cd "$PERF_ROOT" && echo "$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- engine gateway bench src || echo '+dirty')")
}

# record_baseline SCENARIO DIR: appends the run's figure to baselines.tsv:
# date, scenario, profiler, figure name, value, unit, better, machine,
# commit, load average before the run.
record_baseline() {
    local scenario="$1" dir="$2"
    [[ -f "$BASELINES" ]] || printf 'date\tscenario\tprofiler\tfigure\tvalue\tunit\tbetter\tmachine\tcommit\tload\n' > "$BASELINES"
    IFS=$'\t' read -r name value unit better < "$dir/figure.tsv"
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$(date -u +%Y-%m-%dT%H:%MZ)" "$scenario" "$(profiler)" \
        "$name" "$value" "$unit" "$better" "$(machine)" "$(commit)" "$(cat "$dir/load.txt" 2>/dev/null)" >> "$BASELINES"
    echo "baseline recorded in $BASELINES" >&2
}

# cpu_ticks PID: user + system CPU time of PID so far, in clock ticks.
cpu_ticks() {
    awk '{ print $14 + $15 }' "/proc/$1/stat"
}

# demo_with_loadgen DIR SECONDS LOADGEN_ARGS...: starts `clicktail demo`
# (its own generator at 1 event/s, so loadgen's stamped events dominate) on
# a free loopback port, profiles it while `clicktail loadgen --target
# gateway` runs against it, stops it, and leaves loadgen's JSON report in
# DIR/loadgen.json and the demo's CPU seconds in DIR/demo_cpu_s.
demo_with_loadgen() {
    local dir="$1" seconds="$2"; shift 2
    local port=$((18000 + RANDOM % 2000))
    local pid
    pid="$(start_profiled "$dir" "$BIN" demo --rate 1 --listen "127.0.0.1:$port")"
    for _ in $(seq 1 300); do
        curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
        kill -0 "$pid" 2>/dev/null || { cat "$dir/process.err" >&2; return 1; }
        sleep 0.2
    done
    local ticks_before perf_pid=""
    ticks_before="$(cpu_ticks "$pid")"
    if [[ "$(profiler)" == perf ]]; then
        # Sessions connect first (a few seconds); profile the steady state.
        profile_pid "$dir" "$pid" "$seconds" >/dev/null 2>"$dir/perf.log" &
        perf_pid=$!
    fi
    "$BIN" loadgen --target gateway --gateway "127.0.0.1:$port" --duration-s "$seconds" \
        --report "$dir/loadgen.json" "$@" 2>"$dir/progress.txt" | tee "$dir/log.txt" >&2
    local ticks_after
    ticks_after="$(cpu_ticks "$pid")"
    echo "$ticks_before $ticks_after $(getconf CLK_TCK)" | awk '{ printf "%.3f\n", ($2 - $1) / $3 }' > "$dir/demo_cpu_s"
    curl -fsS "http://127.0.0.1:$port/metrics" > "$dir/metrics.txt" 2>/dev/null || true
    [[ -n "$perf_pid" ]] && wait "$perf_pid"
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

# json_field FILE PATH: a number from loadgen's JSON report (PATH like
# latency.end_to_end.p99_us).
json_field() {
    python3 -c 'import json, sys
value = json.load(open(sys.argv[1]))
for key in sys.argv[2].split("."):
    value = value[key]
print(value)' "$1" "$2"
}
