#!/usr/bin/env bash
# Compares the 200-device ingest of two server-bench builds (or one build under two environments)
# on a noisy machine (docs/benchmarks.md, twenty-seventh pass). Both benches run at once, each
# on its own database, and start their measured ingest at the same instant
# (VERIVALI_BENCH_TOGETHER), so both meet the machine's drift with about a core each, and the
# ratio of their ops/s is close to the ratio of their costs (somewhat nearer 1: the first to
# finish goes on to its pull and re-checks beside the other's last pushes). Roles swap every run
# (a bias of starting first or second cancels), and the median ratio comes last. An A/A run of
# one binary gave ratios 0.947-1.057 here, where runs one after the other differed by up to a
# half. Nothing here asserts a time.
#
#   scripts/ingest-ab.sh [--runs N] [--backend postgres|sqlite] BENCH_A BENCH_B ["ENV_B"]
#
# BENCH_A / BENCH_B: the server bench executables (`cargo bench -p verivali-server --bench
# server --no-run` prints the path; copy one aside before building the other). ENV_B: words put
# before B's command by `env`, split at spaces: `VAR=value …` for a switch inside one build (a
# command, such as `nice -n 8`, may follow them). Ratios are B over A.
set -euo pipefail

runs=4
backend=postgres
while [[ $# -gt 0 && $1 == --* ]]; do
    case $1 in
        --runs) runs=$2; shift 2 ;;
        --backend) backend=$2; shift 2 ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done
case $backend in
    postgres | sqlite) ;;
    *) echo "--backend is postgres or sqlite, not $backend" >&2; exit 2 ;;
esac
if [[ $# -lt 2 ]]; then
    echo "usage: $0 [--runs N] [--backend postgres|sqlite] BENCH_A BENCH_B [\"ENV_B\"]" >&2
    exit 2
fi
a=$(realpath "$1")
b=$(realpath "$2")
read -ra env_b <<<"${3:-}"
cd "$(dirname "$0")/../crates/server"
out=$(mktemp -d)
pa=
pb=
cleanup() {
    for p in $pa $pb; do kill "$p" 2>/dev/null || true; done
    rm -rf "$out"
}
trap cleanup EXIT

fail() {
    echo "$1" >&2
    for side in a b; do
        echo "--- ${side^^}'s output, last lines:" >&2
        tail -20 "$out/$side" >&2 || true
    done
    exit 1
}

# ops/s of the measured round: the table row `| Postgres | 20000 | wall s | ops/s | …`.
rate() {
    grep -i "^| $backend | 20000 | " "$1" | head -1 | awk -F'|' '{gsub(/ /, "", $5); print $5}' || true
}

ratios=()
for i in $(seq "$runs"); do
    common=(VERIVALI_BENCH_TOGETHER="$out/meet.$i" VERIVALI_BENCH_PER_PUSH=100
        VERIVALI_BENCH_PUSHES=1 VERIVALI_BENCH_BACKEND="$backend")
    # Odd runs start A first, even runs B first.
    if ((i % 2)); then
        env "${common[@]}" "$a" --bench >"$out/a" 2>&1 &
        pa=$!
        env "${common[@]}" "${env_b[@]}" "$b" --bench >"$out/b" 2>&1 &
        pb=$!
    else
        env "${common[@]}" "${env_b[@]}" "$b" --bench >"$out/b" 2>&1 &
        pb=$!
        env "${common[@]}" "$a" --bench >"$out/a" 2>&1 &
        pa=$!
    fi
    # Whichever fails first ends the run (the other would wait ten minutes for it).
    left=("$pa" "$pb")
    while ((${#left[@]})); do
        finished=
        wait -n -p finished "${left[@]}" || fail "run $i: a bench failed"
        rest=()
        for p in "${left[@]}"; do
            [[ $p == "$finished" ]] || rest+=("$p")
        done
        left=("${rest[@]}")
    done
    pa=
    pb=
    ra=$(rate "$out/a")
    rb=$(rate "$out/b")
    [[ -n $ra && -n $rb ]] || fail "run $i: no ops/s row for $backend"
    r=$(python3 -c "print(f'{$rb / $ra:.3f}')")
    ratios+=("$r")
    echo "run $i: A $ra ops/s, B $rb ops/s, B/A $r"
done
python3 -c "import statistics, sys; r = sorted(map(float, sys.argv[1:])); print(f'median B/A {statistics.median(r):.3f} (range {r[0]:.3f}-{r[-1]:.3f}, {len(r)} runs)')" "${ratios[@]}"
