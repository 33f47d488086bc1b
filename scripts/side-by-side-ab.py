#!/usr/bin/env python3
"""Two builds through the side-by-side script's own Verivali run, alternated (issue 18).

`python3 ../shared/bench/side_by_side/run.py .` builds the checkout and times one build against
PouchDB; its Verivali time moves by a tenth between runs on a shared 2-core machine. To compare
two builds, this runs that script's `verivali_run` (a fresh demo server behind its counting
proxy, sign-in, `record --count`, the timed `sync`) with prebuilt binaries, alternating the
builds run after run, and prints each build's median and spread. Nothing here asserts a time.

    scripts/side-by-side-ab.py [--runs N] DIR_A DIR_B ...

Each DIR holds a `verivali-server` and a `verivali-field` (copy a build aside to keep it: a
build in another worktree with the same CARGO_TARGET_DIR overwrites `target/release`).
"""
import argparse
import importlib.util
import os
import statistics

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPT = os.path.join(HERE, "..", "..", "shared", "bench", "side_by_side", "run.py")


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("dirs", nargs="+")
    a = p.parse_args()
    spec = importlib.util.spec_from_file_location("side_by_side", SCRIPT)
    sbs = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(sbs)
    times = {d: [] for d in a.dirs}
    for i in range(a.runs):
        for d in a.dirs:
            r = sbs.verivali_run(os.path.join(d, "verivali-server"), os.path.join(d, "verivali-field"))
            times[d].append(r["push"])
            print(f"run {i + 1}, {d}: {r['push']:.3f} s :: {r['push_stats']['out'][-60:]}", flush=True)
    for d, t in times.items():
        print(f"{d}: median {statistics.median(t):.3f} s ({min(t):.3f}-{max(t):.3f}), {len(t)} runs")


if __name__ == "__main__":
    main()
