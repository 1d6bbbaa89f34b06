#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""bench/first_call.py: what a slot's first call costs next to its second.

A slot's memory cgroup is made at its first call (src/sandbox/slot_limits.c),
so that call pays for it once. For each build in turn (repeat --build to
alternate builds, e.g. --build OLD --build NEW --build OLD --build NEW): a
fresh daemon with 4 sandboxes of 10 slots, 40 slots leased, then in each
slot `bash -c true` twice, timed with the Python client, and once on the
host itself (subprocess.run, the same Python). Prints per build the p50,
p90, p99 and maximum of the first calls, the second calls and the host's
own runs, and the first's p50 over the second's. The second call is the
baseline for what a first call adds; the host's runs, made between them,
the baseline for what the machine's state (thousands of slots held) does
to any process start.

With --held N, N slots are leased first (sandboxes of 10 started on
demand), and the calls go to n of them picked at random: what a first call
costs on a host that already holds thousands of slots, where making a
memory cgroup takes milliseconds (docs/bench.md, "What a slot costs the
kernel").

    sudo bench/first_call.py --build /path/to/old/build --build build
    sudo bench/first_call.py --held 2000 -n 100 --build OLD --build NEW ...
"""
import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "clients", "python"))
import bench  # noqa: E402

PROFILE = """
default_profile: fc
profiles:
  fc:
    slots_per_sandbox: 10
    min_sandboxes: {min}
    max_sandboxes: {max}
"""


def one(build, tmp, n, held):
    sandboxes = max(4, -(-held // 10))
    prof = PROFILE.format(min=0 if held else 4, max=sandboxes)
    d = bench.Daemon(os.path.abspath(build), tmp, "fc-%d" % time.monotonic_ns(), prof)
    try:
        if not held:
            d.wait_settled("fc")
        slots = [d.client.acquire("first-call", timeout_s=120) for _ in range(max(n, held))]
        slots = random.Random(n).sample(slots, n)
        time.sleep(1)
        first, second, host = [], [], []
        for s in slots:
            for out in (first, second):
                t = time.perf_counter()
                r = d.client.bash(s, "true")
                out.append((time.perf_counter() - t) * 1e3)
                if not r.success:
                    raise RuntimeError(f"bash -c true in {s.slot_id}: {r.error!r}")
            # the baseline, at the same moment: the host runs it itself
            t = time.perf_counter()
            subprocess.run(["bash", "-c", "true"], check=True)
            host.append((time.perf_counter() - t) * 1e3)
        return first, second, host
    finally:
        d.stop()


def summary(xs):
    """p50, p90, p99 (nearest rank) and max of xs, in ms."""
    xs = sorted(xs)
    q = [xs[min(len(xs) - 1, int(f * len(xs)))] for f in (0.5, 0.9, 0.99)]
    return f"p50 {q[0]:.2f} ms, p90 {q[1]:.2f}, p99 {q[2]:.2f}, max {xs[-1]:.2f}"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", action="append", required=True,
                    help="build dir (repeat; measured in the order given)")
    ap.add_argument("-n", type=int, default=40,
                    help="slots that run the calls (at most 40, or --held)")
    ap.add_argument("--held", type=int, default=0,
                    help="slots leased in all, the calls' among them")
    a = ap.parse_args()
    n = max(1, min(a.n, max(40, a.held)))
    with tempfile.TemporaryDirectory(prefix="first-call-") as tmp:
        for b in a.build:
            first, second, host = one(b, tmp, n, a.held)
            f50, s50 = statistics.median(first), statistics.median(second)
            print(f"{b}: {n} slots{f' of {a.held} held' if a.held else ''}; "
                  f"first/second p50 {f50 / s50:.2f}\n"
                  f"  first call   {summary(first)}\n"
                  f"  second call  {summary(second)}\n"
                  f"  host spawn   {summary(host)}", flush=True)


if __name__ == "__main__":
    main()
