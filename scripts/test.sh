#!/usr/bin/env bash
# Runs every check and test: cargo deny (licences, bans, sources; advisories where reachable),
# formatting, clippy with warnings as errors, all tests of every crate
# (unit, integration, the 200-kill crash test, golden protocol examples, benchmark smoke runs) and
# doc tests; the field app's UI type check and unit tests; the end-to-end tests of the dashboard
# (Chromium) and of the field app (Tauri, tauri-driver, Xvfb).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh

echo "== ui: typecheck and unit tests (vitest, happy-dom)"
(cd ui && npx --no-install tsc --noEmit && npx --no-install vitest run)
echo "== cargo deny: licences, bans (one version per crate, one TLS stack), sources"
# deny reads the metadata of every target's crates (wasm, Android…), which a host-only build never
# downloads: fetch them first, so a fresh machine's cache holds them.
cargo fetch --locked --quiet
cargo deny --offline check licenses bans sources
# Advisories need the RustSec database from the internet; machines without it skip, and say so.
if timeout 60 cargo deny fetch >/dev/null 2>&1; then
  cargo deny check advisories
else
  echo "cargo deny advisories: skipped (the RustSec database cannot be fetched from this machine)"
fi
echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== cargo build (the binaries the end-to-end tests run: server, field CLI, field app)"
cargo build --workspace --bins --locked
echo "== cargo test"
cargo test --workspace --all-targets --locked --no-fail-fast
cargo test --workspace --doc --locked
