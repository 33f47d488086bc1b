#!/usr/bin/env bash
# The scripted sync flow of docs/benchmarks.md (issue 18, fifth and sixth passes), for comparing
# builds on a noisy machine: one demo server (SQLite, 2,000 households) and one device with
# 10,000 recorded visits are prepared once; then each run copies both, starts the server on the
# copy and times one `verivali-field sync`, printing its wall time, the device's CPU and the
# server's CPU (clock ticks of 10 ms) and its minor page faults (pages mapped in without a disk
# read: memory first touched or touched again after the allocator returned it, each a trip into
# the kernel) during the sync. With two builds, runs alternate between them and the medians come
# last, each with the floor the two processes' CPU sets on this machine's cores. Real processes,
# release builds; nothing here asserts a time.
#
#   scripts/sync-flow.sh [--runs N] [--visits N] [--postgres] [--writer] [DIR_A [DIR_B]]
#
# --writer: each run also prints the SQLite writer's timeline during the sync, from the server's
# debug log of its write jobs (`db::sqlite`, "The writer's timeline"): how long the writer was
# busy, and how long it stood idle between jobs, waiting for the device's next push to arrive or
# to be prepared (SQLite only; the log is read as text whatever VERIVALI_LOG_FORMAT says, and
# RUST_LOG, default info, gains the writer's debug lines).
#
# --postgres: each run moves the prepared server data into a new PostgreSQL database with its
# build's own `verivali-server migrate` (VERIVALI_TEST_PG, default the machine's `test` database,
# names the server) and serves it from there; the database is dropped after the run.
#
# DIR_A / DIR_B hold a `verivali-server` and a `verivali-field` each (copy a build aside to keep
# it); without them the current release build is used (`cargo build --release` first). Every
# device is recorded by DIR_A's field binary, so two builds sync the same outbox, and the server's
# data is made by DIR_A's server: put the older build first (a server refuses a database of a
# newer schema, as one before step 15 refuses packed records).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=5
VISITS=10000
PG=0
WRITER=0
PG_ADMIN=${VERIVALI_TEST_PG:-postgres://postgres@127.0.0.1:5432/test}
DIRS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) RUNS=$2; shift 2 ;;
    --visits) VISITS=$2; shift 2 ;;
    --postgres) PG=1; shift ;;
    --writer) WRITER=1; shift ;;
    *) DIRS+=("$(cd "$1" && pwd)"); shift ;;
  esac
done
if [ "$WRITER" = 1 ] && [ "$PG" = 1 ]; then
  echo "--writer reads the SQLite writer's log; it does not go with --postgres" >&2
  exit 2
fi
if [ ${#DIRS[@]} -eq 0 ]; then
  cargo build --release -q -p verivali-server -p verivali-field
  DIRS=("${CARGO_TARGET_DIR:-$PWD/target}/release")
fi
WORK=$(mktemp -d /tmp/vv-sync-flow.XXXX)
trap 'pkill -P $$ 2>/dev/null || true; rm -rf "$WORK"' EXIT
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

wait_listening() {
  for _ in $(seq 200); do
    grep -q 'listening on' "$1" && return 0
    sleep 0.1
  done
  echo "the server did not start: $(tail -5 "$1")" >&2
  exit 1
}

# Prepared once: the demo server's data and a signed-in device with VISITS queued visits.
(
  cd "$WORK"
  "${DIRS[0]}/verivali-server" --listen "127.0.0.1:$PORT" demo --households 2000 >prep.log 2>&1 &
  SP=$!
  wait_listening prep.log
  PW=$(grep 'petugas.demo1 ' prep.log | grep -o 'demo-[A-Za-z0-9_-]*' | head -1)
  printf '%s\n270814\n' "$PW" | "${DIRS[0]}/verivali-field" --store "$WORK/device.db" sign-in \
    --server "http://127.0.0.1:$PORT" --username petugas.demo1 --fast-kdf >/dev/null
  VERIVALI_PIN=270814 "${DIRS[0]}/verivali-field" --store "$WORK/device.db" record --count "$VISITS" >/dev/null
  kill "$SP"
  wait "$SP" 2>/dev/null || true
  mv verivali-data/demo server
)

# The writer's busy and idle time between $2 and $3 (seconds since the epoch), from the write
# jobs the server log $1 names (each logged when it let go of the writer, with how long it held
# it).
writer_timeline() {
  python3 - "$@" <<'PY'
import datetime, re, sys
log, start, end = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
jobs = []
handed = 0
for line in open(log, errors="replace"):
    handed += "committed=false" in line
    m = re.match(r"(\S+Z)\s.*write job.*held_us=(\d+) released_us_ago=(\d+)", line)
    if m:
        t = datetime.datetime.fromisoformat(m.group(1).replace("Z", "+00:00")).timestamp()
        released = t - int(m.group(3)) / 1e6
        jobs.append((released - int(m.group(2)) / 1e6, released))
jobs = sorted(j for j in jobs if start <= j[0] <= end)
# Holds do not overlap (one writer); merged anyway, so that a microsecond's rounding at a
# hand-over cannot count a moment twice.
merged = []
for a, b in jobs:
    if merged and a <= merged[-1][1]:
        merged[-1][1] = max(merged[-1][1], b)
    else:
        merged.append([a, b])
busy = sum(b - a for a, b in merged)
gaps = [b[0] - a[1] for a, b in zip(merged, merged[1:])]
jobs = merged
lead = jobs[0][0] - start if jobs else 0
print(f"  writer: {len(jobs)} holds ({handed} handed to a job of the same group), busy {busy * 1e3:.0f} ms; idle {sum(g for g in gaps if g > 0) * 1e3:.0f} ms "
      f"between jobs (largest {max(gaps, default=0) * 1e3:.0f} ms), {lead * 1e3:.0f} ms before the first, "
      f"{(end - jobs[-1][1]) * 1e3 if jobs else 0:.0f} ms after the last")
PY
}

# One sync of build $1; prints "wall device_cpu server_ticks server_faults".
one() {
  local bin=$1 run="$WORK/run"
  rm -rf "$run" && mkdir -p "$run"
  cp -r "$WORK/server" "$run/server"
  cp "$WORK"/device.db* "$run/"
  local db=()
  if [ "$PG" = 1 ]; then
    local name="vv_sync_flow_$$"
    psql -q "$PG_ADMIN" -c "DROP DATABASE IF EXISTS $name WITH (FORCE)" -c "CREATE DATABASE $name" >/dev/null
    db=(--database "${PG_ADMIN%/*}/$name")
    "$bin/verivali-server" --data-dir "$run/server" migrate --to "${PG_ADMIN%/*}/$name" >/dev/null
  fi
  local log=${RUST_LOG:-info}
  [ "$WRITER" = 1 ] && log=$log,verivali_server::db::sqlite=debug
  # NO_COLOR: tracing colours its text even into a file, which the timeline's parser cannot read.
  RUST_LOG=$log NO_COLOR=1 "$bin/verivali-server" --log-format text "${db[@]}" --data-dir "$run/server" \
    --listen "127.0.0.1:$PORT" serve >"$run/server.log" 2>&1 &
  local sp=$!
  wait_listening "$run/server.log"
  local t0 s e t1 f0 f1
  # /proc/PID/stat: field 10 the minor faults, 14 and 15 the user and system ticks.
  read -r f0 t0 < <(awk '{print $10, $14 + $15}' "/proc/$sp/stat")
  s=$(date +%s.%N)
  VERIVALI_PIN=270814 /usr/bin/time -f '%U %S' -o "$run/device.time" \
    "$bin/verivali-field" --store "$run/device.db" sync >"$run/sync.out" 2>&1
  e=$(date +%s.%N)
  read -r f1 t1 < <(awk '{print $10, $14 + $15}' "/proc/$sp/stat")
  kill "$sp"
  wait "$sp" 2>/dev/null || true
  if [ "$PG" = 1 ]; then
    psql -q "$PG_ADMIN" -c "DROP DATABASE IF EXISTS vv_sync_flow_$$ WITH (FORCE)" >/dev/null
  fi
  grep -q "synced: $VISITS ops acknowledged (0 rejected)" "$run/sync.out" || {
    echo "the sync failed: $(cat "$run/sync.out")" >&2
    exit 1
  }
  [ "$WRITER" = 1 ] && writer_timeline "$run/server.log" "$s" "$e" >&2
  printf '%.3f %.2f %d %d\n' "$(echo "$e - $s" | bc)" "$(awk '{print $1 + $2}' "$run/device.time")" \
    $((t1 - t0)) $((f1 - f0))
}

declare -A RESULTS
for i in $(seq "$RUNS"); do
  for k in "${!DIRS[@]}"; do
    r=$(one "${DIRS[$k]}")
    RESULTS[$k]+="$r"$'\n'
    echo "run $i, build $((k + 1)) (${DIRS[$k]}): wall ${r%% *} s, device CPU $(echo "$r" | cut -d' ' -f2) s, server CPU $(echo "$r" | cut -d' ' -f3) ticks and $(echo "$r" | cut -d' ' -f4) page faults"
  done
done
for k in "${!DIRS[@]}"; do
  printf '%s' "${RESULTS[$k]}" | python3 -c '
import statistics, sys
rows = [l.split() for l in sys.stdin if l.strip()]
col = lambda i: [float(r[i]) for r in rows]
print(f"build {sys.argv[1]}: median wall {statistics.median(col(0)):.3f} s ({min(col(0)):.3f}-{max(col(0)):.3f}), "
      f"device CPU {statistics.median(col(1)):.2f} s, server CPU {statistics.median(col(2)):.0f} ticks "
      f"and {statistics.median(col(3)):.0f} page faults, {len(rows)} runs")
# Both processes share the cores here: however well they overlap, the sync cannot end before
# the cores have run the CPU both used. The floor tells whether a change should aim at the
# overlap (wall well above it) or at the CPU itself (wall near it).
tick, cores = float(sys.argv[2]), int(sys.argv[3])
cpu = statistics.median([d + t / tick for d, t in zip(col(1), col(2))])
print(f"  CPU of both processes {cpu:.2f} s (median of the runs); on {cores} cores no sync ends before "
      f"{cpu / cores:.3f} s, and the median wall is {statistics.median(col(0)) * cores / cpu:.2f}x that")
' "$((k + 1)) (${DIRS[$k]})" "$(getconf CLK_TCK)" "$(nproc)"
done
