#!/usr/bin/env bash
# Runs `tomoe demo` on a fresh machine: installs redis-server when missing, builds, runs.
# Extra arguments go to `tomoe demo` (see `tomoe demo --help`).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/tomoe-target}"
if ! command -v redis-server >/dev/null 2>&1; then
  sudo_cmd=(); [ "$(id -u)" -ne 0 ] && sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq redis-server
fi
cargo build --locked -p tomoe-cli --bin tomoe
exec "$CARGO_TARGET_DIR/debug/tomoe" demo "$@"
