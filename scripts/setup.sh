#!/usr/bin/env bash
# Installs what Verivali needs on Debian 12 and starts the services the tests use. Idempotent:
# packages already present are not touched, so a warm machine spends a second here.
set -euo pipefail

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

# System packages: C toolchain and OpenSSL headers for the bundled SQLCipher, PostgreSQL for the
# server's second backend and its tests, Chromium and its WebDriver for the dashboard's browser
# tests, the WebKitGTK stack Tauri 2 builds against, and Xvfb, D-Bus and WebKitWebDriver for the
# field app's end-to-end tests; poppler-utils' pdftotext reads the printed documents back in tests.
PACKAGES=(build-essential pkg-config libssl-dev ca-certificates postgresql postgresql-client
          chromium chromium-driver
          libwebkit2gtk-4.1-dev libayatana-appindicator3-dev librsvg2-dev libxdo-dev file
          xvfb xauth dbus webkit2gtk-driver poppler-utils)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}"
fi

# Rust: Debian's own rustc is too old; the project needs Rust 1.95 (rustup).
if ! command -v cargo >/dev/null 2>&1; then
  echo "setup: Rust is missing. Install rustup and Rust 1.95 or newer (https://rustup.rs), then run again." >&2
  exit 1
fi
rustup component add rustfmt clippy >/dev/null 2>&1 || true

# tauri-driver (2.x) drives the field app through WebKitWebDriver in the end-to-end tests.
if ! command -v tauri-driver >/dev/null 2>&1 && [ ! -x "$HOME/.cargo/bin/tauri-driver" ]; then
  echo "setup: installing tauri-driver"
  cargo install tauri-driver --locked --version '^2'
fi

# cargo-deny checks licences, duplicate versions and sources in the test command.
if ! command -v cargo-deny >/dev/null 2>&1 && [ ! -x "$HOME/.cargo/bin/cargo-deny" ]; then
  echo "setup: installing cargo-deny"
  cargo install cargo-deny --locked --version '^0.20'
fi

# The field app's UI (ui/): Node 20+ with npm (Debian's own when none is installed), its npm
# packages, then ui/dist, which the Tauri build embeds.
if ! command -v npm >/dev/null 2>&1; then
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq nodejs npm
fi
if command -v npm >/dev/null 2>&1; then
  here="$(cd "$(dirname "$0")/.." && pwd)"
  if [ ! -d "$here/ui/node_modules" ] || [ "$here/ui/package-lock.json" -nt "$here/ui/node_modules" ]; then
    # `npm install` rather than `npm ci`: npm 11 refuses `ci` over optional platform packages
    # (rollup's) that its own lockfile leaves out; the lockfile's exact versions still hold.
    (cd "$here/ui" && npm install --no-audit --no-fund --loglevel=error && touch node_modules)
  fi
  (cd "$here/ui" && npx --no-install vite build --logLevel warn)
fi

# PostgreSQL on 127.0.0.1:5432 with a database `test` (trust auth on this dev machine).
if command -v pg_ctlcluster >/dev/null 2>&1 && ! pg_isready -q -h 127.0.0.1 -p 5432; then
  cluster_version=$(ls /etc/postgresql | sort -V | tail -n1)
  $SUDO pg_ctlcluster --skip-systemctl-redirect "$cluster_version" main start || true
  for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
fi

# A role and database for the tests: role `verivali` (password `verivali`, may create the
# per-test databases) and database `test`. Works with trust auth (this project's dev machines)
# and with Debian's default password auth over TCP alike.
if command -v psql >/dev/null 2>&1 && id postgres >/dev/null 2>&1; then
  as_postgres() { if [ "$(id -u)" -eq 0 ]; then su postgres -c "$1"; else sudo -u postgres sh -c "$1"; fi; }
  as_postgres "psql -q -tAc \"SELECT 1 FROM pg_roles WHERE rolname = 'verivali'\" | grep -q 1 || psql -q -c \"CREATE ROLE verivali LOGIN CREATEDB PASSWORD 'verivali'\"" >/dev/null
  as_postgres "psql -q -tAc \"SELECT 1 FROM pg_database WHERE datname = 'test'\" | grep -q 1 || createdb test" >/dev/null
fi
