#!/usr/bin/env bash
# Sets up the machine and runs what Verivali has so far: a demo of the encrypted device store —
# a synthetic desa prelisted on a device, visits recorded offline, the work list and the outbox.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
cargo run --locked -p verivali-store --example demo
