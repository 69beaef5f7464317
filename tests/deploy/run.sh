#!/usr/bin/env bash
# Validates everything under deploy/, the Dockerfile and its build context.
#
#   tests/deploy/run.sh [pytest args...]
#
# Installs what it needs, idempotently, under .cache/ (git-ignored):
#   .cache/deploy-venv         Python venv: kubernetes-validate (offline
#                              schemas), PyYAML, pytest (tests/deploy/requirements.txt)
#   .cache/deploy-go/bin       kustomize, built from the Go module proxy when
#                              neither `kustomize` nor `kubectl` is on PATH
# Needs no cluster, no Docker engine and no network beyond the registries.
# Ends with one line 'deploy: N passed, N failed' and exits non-zero on any
# failure.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
cache="$repo/.cache"
venv="$cache/deploy-venv"
requirements="$here/requirements.txt"
kustomize_version="v5.5.0"

log() { printf 'deploy-tests: %s\n' "$*" >&2; }

# --- Python venv (re-created only when requirements.txt changes) -----------
stamp="$venv/.requirements.sha256"
want="$(sha256sum "$requirements" | cut -d' ' -f1)"
if [[ ! -x "$venv/bin/python" || ! -f "$stamp" || "$(cat "$stamp")" != "$want" ]]; then
  log "installing Python packages into $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$requirements"
  echo "$want" > "$stamp"
fi

# --- kustomize: PATH, then kubectl's built-in, then our own build -----------
if [[ -z "${CLICKTAIL_KUSTOMIZE:-}" ]]; then
  if [[ -x "$cache/deploy-go/bin/kustomize" ]]; then
    CLICKTAIL_KUSTOMIZE="$cache/deploy-go/bin/kustomize build"
  elif command -v kustomize >/dev/null 2>&1; then
    CLICKTAIL_KUSTOMIZE="kustomize build"
  elif command -v kubectl >/dev/null 2>&1 && kubectl kustomize --help >/dev/null 2>&1; then
    CLICKTAIL_KUSTOMIZE="kubectl kustomize"
  elif command -v go >/dev/null 2>&1; then
    log "building kustomize $kustomize_version from the Go module proxy (once, ~2 min)"
    mkdir -p "$cache/deploy-go"
    GOBIN="$cache/deploy-go/bin" GOPATH="$cache/deploy-go/gopath" \
      GOMODCACHE="$cache/deploy-go/gopath/pkg/mod" GOFLAGS=-modcacherw \
      go install "sigs.k8s.io/kustomize/kustomize/v5@$kustomize_version" >&2
    CLICKTAIL_KUSTOMIZE="$cache/deploy-go/bin/kustomize build"
  else
    log "no kustomize, kubectl or go found: cannot render the overlays"
    echo "deploy: 0 passed, 1 failed"
    exit 1
  fi
fi
export CLICKTAIL_KUSTOMIZE
log "rendering with: $CLICKTAIL_KUSTOMIZE"

# --- run -----------------------------------------------------------------------
# No __pycache__ beside the tests (the folder is committed as is).
export PYTHONDONTWRITEBYTECODE=1
report_dir="$(mktemp -d)"
trap 'rm -rf "$report_dir"' EXIT
report="$report_dir/junit.xml"
set +e
(cd "$repo" && "$venv/bin/python" -m pytest -p no:cacheprovider -q -rfEs \
   --junitxml="$report" "$here" "$@")
status=$?
set -e

# The closing line CI reads: counts from pytest's JUnit report (a skip is
# neither passed nor failed and is listed separately).
"$venv/bin/python" - "$report" "$status" <<'PY'
import sys, xml.etree.ElementTree as ET
report, status = sys.argv[1], int(sys.argv[2])
try:
    root = ET.parse(report).getroot()
except (OSError, ET.ParseError):
    print("deploy: 0 passed, 1 failed")
    sys.exit(0)
suites = [root] if root.tag == "testsuite" else list(root)
tests = sum(int(s.get("tests", 0)) for s in suites)
failed = sum(int(s.get("failures", 0)) + int(s.get("errors", 0)) for s in suites)
skipped = sum(int(s.get("skipped", 0)) for s in suites)
passed = tests - failed - skipped
if status != 0 and failed == 0:
    failed = 1  # pytest itself failed (collection error, usage error)
print(f"deploy: {passed} passed, {failed} failed, {skipped} skipped")
PY
exit "$status"
