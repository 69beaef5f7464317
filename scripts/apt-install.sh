#!/usr/bin/env bash
# Installs Debian packages, one apt run at a time on this machine:
# scripts/test.sh runs suites side by side, and apt refuses to start while
# another apt holds its locks, so a second suite's install would fail.
#
#   scripts/apt-install.sh PACKAGE...
set -euo pipefail
sudo=()
if [[ $(id -u) -ne 0 ]]; then sudo=(sudo); fi
exec 9>"${TMPDIR:-/tmp}/clicktail-apt.lock"
flock 9
"${sudo[@]}" apt-get update -qq >/dev/null
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
