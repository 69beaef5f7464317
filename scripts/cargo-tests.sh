#!/usr/bin/env bash
# Runs the workspace's cargo tests as `cargo test --workspace` would (each
# test executable in its package's directory, then the doc tests), but two
# executables at a time: most of them wait on Kafka, PostgreSQL and child
# processes, and one after another they left the CPU 72% idle (210 s wall,
# 117 CPU-s on 2 cores; perf/results/first-run.md).
#
# The executables that stop and restart the shared services run first, one
# at a time and alone: any test beside them would see its broker or its
# database go away.
#
#   scripts/cargo-tests.sh           build (if needed) and run every test
#
# Each executable's output is printed whole when it ends, so two never
# interleave. Exits non-zero when any test failed, after all have run.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

# Test executables (by target name) that stop or restart the shared Kafka
# or PostgreSQL (`services_script(&["stop-kafka"])` and the like).
restarting_services=(services kafka_outage registry_outage)
parallel=2

logs="$(mktemp -d "${TMPDIR:-/tmp}/clicktail-cargo-tests.XXXXXX")"
trap 'rm -rf "$logs"' EXIT

# "<target name> <package directory> <executable>", one per test executable.
cargo test --workspace --locked --no-run --message-format=json-render-diagnostics |
    python3 -c '
import json, os, sys
for line in sys.stdin:
    message = json.loads(line)
    if message.get("reason") == "compiler-artifact" and message.get("executable") and message["profile"]["test"]:
        directory = os.path.dirname(message["manifest_path"])
        print(message["target"]["name"], directory, message["executable"])
' >"$logs/executables"

failed="$logs/failed"
: >"$failed"

# Runs a command in a directory (a test executable, or the doc tests);
# prints its output whole when it ends, and records a failure.
run_job() {
    local name="$1" directory="$2"
    shift 2
    local log started=$SECONDS status=0
    log="$(mktemp "$logs/job.XXXXXX")"
    (cd "$directory" && "$@") >"$log" 2>&1 || status=$?
    {
        printf '\n--- %s (%s, %d s)\n' "$name" "${*#"$root"/}" "$((SECONDS - started))"
        cat "$log"
        if ((status != 0)); then
            printf -- '--- FAILED: %s (exit %d)\n' "$name" "$status"
        fi
    } >&2
    if ((status != 0)); then
        echo "$name" >>"$failed"
    fi
}

alone=()
shared=()
while read -r name directory executable; do
    if [[ " ${restarting_services[*]} " == *" $name "* ]]; then
        alone+=("$name $directory $executable")
    else
        shared+=("$name $directory $executable")
    fi
done <"$logs/executables"

for entry in "${alone[@]}"; do
    # shellcheck disable=SC2086
    run_job $entry
done

# The doc tests are one more job beside the executables.
running=0
run_job "doc tests" "$root" cargo test --workspace --locked --doc &
running=$((running + 1))
for entry in "${shared[@]}"; do
    if ((running >= parallel)); then
        wait -n || true
        running=$((running - 1))
    fi
    # shellcheck disable=SC2086
    run_job $entry &
    running=$((running + 1))
done
wait

total=$((${#alone[@]} + ${#shared[@]}))
if [[ -s "$failed" ]]; then
    echo "cargo tests: FAILED: $(tr '\n' ' ' <"$failed")(of $total executables and the doc tests)" >&2
    exit 1
fi
echo "cargo tests: $total executables and the doc tests passed" >&2
