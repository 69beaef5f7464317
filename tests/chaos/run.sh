#!/usr/bin/env bash
# The chaos suite of issue 11: faults staged against real clicktail
# processes on the services of scripts/services.sh, counting lost matches.
#
#   tests/chaos/run.sh                          every scenario
#   tests/chaos/run.sh --only worker-kill,broker-restart
#   tests/chaos/run.sh --list
#
# Needs CLICKTAIL_KAFKA_BROKERS and CLICKTAIL_DATABASE_URL (scripts/test.sh
# sets them; else `eval "$(scripts/services.sh up)"`). It RESTARTS those
# services (Kafka, PostgreSQL): never point it at services others use, pick
# private ports with CLICKTAIL_PG_PORT / CLICKTAIL_KAFKA_PORT /
# CLICKTAIL_KAFKA_CONTROLLER_PORT. It leaves them up. The network scenario
# needs root (network namespaces, TUN); it installs iproute2 if missing.
# Logs and summary.txt: target/chaos/.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
cd "$ROOT"

if [[ -z "${CLICKTAIL_KAFKA_BROKERS:-}" || -z "${CLICKTAIL_DATABASE_URL:-}" ]]; then
  echo "chaos: CLICKTAIL_KAFKA_BROKERS and CLICKTAIL_DATABASE_URL must name the services (eval \"\$(scripts/services.sh up)\")" >&2
  exit 2
fi
if ! command -v ip >/dev/null 2>&1; then
  echo "chaos: installing Debian's iproute2" >&2
  scripts/apt-install.sh iproute2
fi

cargo build --locked --bins -p clicktail -p clicktail-chaos >&2
# The network scenario's namespaces and TUN device, should the suite die
# before its own cleanup.
cleanup_network() {
  ip netns del ct-broker 2>/dev/null || true
  ip netns del ct-worker 2>/dev/null || true
  ip link del ct-host 2>/dev/null || true
}
trap cleanup_network EXIT
status=0
"$ROOT/target/debug/clicktail-chaos" --bin "$ROOT/target/debug/clicktail" "$@" || status=$?
# Whatever a scenario did, the services are left up for what runs next.
scripts/services.sh up >/dev/null
exit $status
