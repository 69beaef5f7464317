#!/usr/bin/env bash
# Installs what building clicktail needs, when it is missing: the C tool
# chain for rdkafka's bundled librdkafka, python3 (scripts/cargo-tests.sh
# reads cargo's JSON with it), and rustfmt + clippy.
# Quick when everything is there.
set -euo pipefail

missing=()
for tool in gcc g++ make cmake pkg-config perl python3; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if ((${#missing[@]} > 0)); then
    packages=()
    for tool in "${missing[@]}"; do
        case "$tool" in
            g++) packages+=(g++) ;;
            pkg-config) packages+=(pkg-config) ;;
            *) packages+=("$tool") ;;
        esac
    done
    echo "installing build tools: ${packages[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq "${packages[@]}" >/dev/null
fi

if ! cargo fmt --version >/dev/null 2>&1 || ! cargo clippy --version >/dev/null 2>&1; then
    rustup component add rustfmt clippy
fi
