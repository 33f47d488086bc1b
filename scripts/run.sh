#!/usr/bin/env bash
# Sets up the machine and runs Verivali's main job: the central server on embedded SQLite with a
# demo area (one synthetic desa) and demo accounts printed to the terminal, and the field app
# pointed at it (on this display, or on a virtual one when there is none). Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
cargo build --locked -p verivali-server -p verivali-app
bin="${CARGO_TARGET_DIR:-target}/debug"
"$bin/verivali-server" demo &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
sleep 2
export VERIVALI_SERVER="http://127.0.0.1:8080"
export VERIVALI_DATA_DIR="${VERIVALI_DATA_DIR:-$PWD/verivali-data/field-app}"
echo "Field app: sign in with petugas.demo1 and its password above; data in $VERIVALI_DATA_DIR"
if [ -n "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ]; then
  "$bin/verivali-app"
else
  echo "(no display: the field app runs on a virtual one; the supervisor dashboard is at http://127.0.0.1:8080/)"
  xvfb-run -a "$bin/verivali-app"
fi
