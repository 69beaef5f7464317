#!/usr/bin/env bash
# Issue 12's last target: a gateway with 1,000 idle admin sessions and no
# matches uses at most 2% of a core while the raw topic carries 20,000
# events/s. A gateway reads only the filtered topic, so the raw traffic
# should not show in its CPU at all: this measures the gateway's CPU over
# the same length of time without, then with, the raw stream.
#
#   perf/gateway/raw-idle.sh [SESSIONS] [RATE] [SECONDS] [PROFILE]
#
# Defaults: 1,000 sessions, 20,000 events/s, 30 s, the `dist` profile
# (pass `release` or `dev` for a quicker build; say which in the figures).
# Uses the services of scripts/services.sh (started when not running).
# Prints one line per phase and appends them to perf/results/gateway-raw-idle.md.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
sessions="${1:-1000}"
rate="${2:-20000}"
seconds="${3:-30}"
profile="${4:-dist}"
[[ -n "${CLICKTAIL_KAFKA_BROKERS:-}" ]] || eval "$(scripts/services.sh up)"

cargo build --locked --profile "$profile" --bin clicktail -p clicktail
cargo build --locked --profile "$profile" -p clicktail-gateway --example fanout
dir="$root/target/$([[ "$profile" == dev ]] && echo debug || echo "$profile")"
# CLICKTAIL_BIN: another build's gateway (a previous commit's, say), for a
# reference measured in the same session; the clients stay this tree's.
clicktail="${CLICKTAIL_BIN:-$dir/clicktail}"

suffix="rawidle-$$-$(date +%s)"
raw="$suffix" filtered="$suffix.filtered"
port=$((20000 + $$ % 20000))
work="$(mktemp -d)"
cleanup() {
  [[ -n "${clients_pid:-}" ]] && kill "$clients_pid" 2>/dev/null || true
  [[ -n "${gateway_pid:-}" ]] && kill "$gateway_pid" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# Both topics exist before the gateway starts.
for topic in "$raw" "$filtered"; do
  scripts/services.sh kafka-tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$CLICKTAIL_KAFKA_BROKERS" \
    --create --topic "$topic" --partitions 4 >/dev/null
done

# A registry schema of its own, so the run leaves the shared one alone.
schema="rawidle_$$"
"$clicktail" migrate --database-url "$CLICKTAIL_DATABASE_URL" --database-schema "$schema" >/dev/null
"$clicktail" gateway --brokers "$CLICKTAIL_KAFKA_BROKERS" --database-url "$CLICKTAIL_DATABASE_URL" \
  --database-schema "$schema" \
  --listen "127.0.0.1:$port" --no-admin-token --raw-topic "$raw" --filtered-topic "$filtered" \
  --node-name "$suffix" >"$work/gateway.log" 2>&1 &
gateway_pid=$!
ready=no
for _ in $(seq 1 150); do
  curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && { ready=yes; break; }
  sleep 0.2
done
[[ "$ready" == yes ]] || { echo "the gateway did not become ready:" >&2; cat "$work/gateway.log" >&2; exit 1; }

# Idle sessions, each subscribed to a user nobody produces matches for.
coproc clients { "$dir/examples/fanout" --clients "127.0.0.1:$port" 0 "$sessions" 2 2>"$work/clients.log"; }
clients_pid=$clients_PID
read -r ready <&"${clients[0]}"
[[ "$ready" == ready ]] || { echo "clients: $ready" >&2; exit 1; }
sleep 2 # let the subscribes settle

cpu_ticks() { awk '{print $14 + $15}' "/proc/$gateway_pid/stat"; }
measure() { # phase name, then a command to run for the phase's length
  local name=$1; shift
  local before after ticks_per_s
  ticks_per_s=$(getconf CLK_TCK)
  before=$(cpu_ticks)
  "$@"
  after=$(cpu_ticks)
  awk -v n="$name" -v t=$((after - before)) -v hz="$ticks_per_s" -v s="$seconds" \
    'BEGIN { printf "%s: gateway CPU %.2f%% of a core over %d s (%.2f CPU-s)\n", n, 100 * t / hz / s, s, t / hz }'
}
# CPU ticks per thread name (summed over threads of the same name), so a
# figure over the target says which thread spends it.
thread_ticks() {
  for stat in /proc/"$gateway_pid"/task/*/stat; do
    sed -E 's/^[0-9]+ \((.*)\) . (.*)$/\1\t\2/' "$stat" 2>/dev/null
  done | awk -F'\t' '{ split($2, f, " "); ticks[$1] += f[11] + f[12] } END { for (n in ticks) print n "\t" ticks[n] }' | sort
}
threads_before="$(thread_ticks)"
idle="$(measure "no raw traffic" sleep "$seconds")"
echo "$idle"
idle_threads="$(join -t$'\t' <(echo "$threads_before") <(thread_ticks) |
  awk -F'\t' '$3 > $2 { printf "%6d  %s\n", $3 - $2, $1 }' | sort -rn)"
echo "idle CPU by thread (ticks of 1/$(getconf CLK_TCK) s):"
echo "$idle_threads"
loaded="$(measure "raw topic at $rate events/s" "$dir/clicktail" loadgen --target kafka \
  --brokers "$CLICKTAIL_KAFKA_BROKERS" --topic "$raw" --rate "$rate" --duration-s "$seconds")"
loaded="$(echo "$loaded" | tail -1)"
echo "$loaded"
fetched=$(curl -fsS "http://127.0.0.1:$port/metrics" | awk '/^clicktail_gateway_records_read_total/ {s += $2} END {print s + 0}')
echo "filtered records read by the gateway: $fetched"

{
  echo "## $(date -u +%Y-%m-%dT%H:%MZ) commit $(git rev-parse --short HEAD), profile $profile${CLICKTAIL_BIN:+, gateway $CLICKTAIL_BIN}"
  echo
  echo "machine: $(nproc) cores, load average at the end $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "command: perf/gateway/raw-idle.sh $sessions $rate $seconds $profile"
  echo
  echo '```'
  echo "sessions $sessions (idle, one user.id filter each, no matches)"
  echo "$idle"
  echo "idle CPU by thread (ticks of 1/$(getconf CLK_TCK) s):"
  echo "$idle_threads"
  echo "$loaded"
  echo "filtered records read by the gateway: $fetched"
  echo '```'
  echo
} >>perf/results/gateway-raw-idle.md
