#!/usr/bin/env bash
# Sets up the machine and runs Verivali's main job: the central server on embedded SQLite with a
# demo area (one synthetic desa) and demo accounts printed to the terminal. Ctrl-C stops it.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
cargo run --locked -p verivali-server -- demo
