#!/usr/bin/env bash
# docs/filtered-topic.md, run: a standing filter and a worker on the real
# services, then the filtered topic read with kcat and with the Python
# consumer of docs/examples/filtered_consumer.py (confluent-kafka).
#
#   source .cache/services/env && tests/filtered-topic/run.sh [pytest args...]
#
# Installs what it needs, idempotently: kcat from Debian when missing, a
# Python venv under .cache/filtered-topic-venv (requirements.txt), and the
# debug `clicktail` binary (cargo build). Needs CLICKTAIL_KAFKA_BROKERS and
# CLICKTAIL_DATABASE_URL (scripts/services.sh); topics and schema are random
# and removed afterwards.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
venv="$repo/.cache/filtered-topic-venv"
requirements="$here/requirements.txt"

log() { printf 'filtered-topic-tests: %s\n' "$*" >&2; }

if ! command -v kcat >/dev/null 2>&1; then
  log "installing kcat (Debian package)"
  sudo=""
  [[ "$(id -u)" == 0 ]] || sudo="sudo"
  $sudo apt-get update -qq >/dev/null
  $sudo apt-get install -y -qq kcat >/dev/null
fi

stamp="$venv/.requirements.sha256"
want="$(sha256sum "$requirements" | cut -d' ' -f1)"
if [[ ! -x "$venv/bin/python" || ! -f "$stamp" || "$(cat "$stamp")" != "$want" ]]; then
  log "installing Python packages into $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$requirements"
  echo "$want" > "$stamp"
fi

if [[ -z "${CLICKTAIL_BIN:-}" ]]; then
  (cd "$repo" && cargo build --locked --quiet --bin clicktail)
  CLICKTAIL_BIN="$repo/target/debug/clicktail"
fi
export CLICKTAIL_BIN

export PYTHONDONTWRITEBYTECODE=1
cd "$repo"
exec "$venv/bin/python" -m pytest -p no:cacheprovider -q -rfEs "$here" "$@"
