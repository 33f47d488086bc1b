#!/usr/bin/env bash
# Runs every check and test: formatting, clippy with warnings as errors, all tests of every crate
# (unit, integration, the 200-kill crash test, golden protocol examples, benchmark smoke runs) and
# doc tests.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== cargo test"
cargo test --workspace --all-targets --locked --no-fail-fast
cargo test --workspace --doc --locked
