#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""bench/lease_ab.py: what leasing a slot costs, two builds in turns.

    bench/lease_ab.py BASE_BUILD NEW_BUILD [-n 400] [--rounds 4]
                      [--daemon-arg=--slot-root=chroot ...]

Each round, each build (in alternating order): a fresh slotboxd whose only
profile has 10 slots per sandbox, N acquires one after another with the
Python client (each tenth starts a sandbox), then the CPU time its
sandboxes' processes used per slot (schedstat, as bench/scale.py reads
it), the daemon's CPU per slot and the wall time per slot. Per round the
difference new - base; at the end the medians. A shared machine drifts
between rounds: compare within a round."""
import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import scale  # noqa: E402


def one(build, n, tmp, extra):
    d = scale.Daemon(os.path.abspath(build), tmp, 10, n // 10 + 1, [], extra)
    try:
        t = time.monotonic()
        d0 = scale.cpu_ticks(d.proc.pid)[1]
        for i in range(n):
            d.client.acquire(f"ab-{i}", timeout_s=120)
        wall = time.monotonic() - t
        time.sleep(0.5)  # the last sandbox's prestarted slots settle
        sandbox = sum(scale.sandbox_cpu_ms(d.proc.pid)) / n
        daemon = ((scale.cpu_ticks(d.proc.pid)[1] - d0) * 1000
                  / os.sysconf("SC_CLK_TCK") / n)
        return sandbox, daemon, wall / n * 1e3
    finally:
        d.stop()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("base")
    ap.add_argument("new")
    ap.add_argument("-n", type=int, default=400, help="slots leased per round")
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--daemon-arg", action="append", default=[],
                    help="an extra slotboxd argument (repeat), e.g. "
                    "--daemon-arg=--slot-root=chroot")
    a = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench/lease_ab.py: run as root")
    if a.n < 10 or a.rounds < 1:
        sys.exit("bench/lease_ab.py: -n at least 10, --rounds at least 1")
    tmp = tempfile.mkdtemp(prefix="lease-ab-")
    got = {"base": [], "new": []}
    for r in range(a.rounds):
        order = [("base", a.base), ("new", a.new)]
        for name, build in order if r % 2 == 0 else order[::-1]:
            got[name].append(one(build, a.n, tmp, a.daemon_arg))
            time.sleep(3)  # the kernel frees the namespaces meanwhile
        b, nw = got["base"][-1], got["new"][-1]
        print(f"round {r}: sandboxes' CPU per slot {b[0]:.2f} -> {nw[0]:.2f} ms "
              f"({nw[0] - b[0]:+.2f}), daemon {b[1]:.2f} -> {nw[1]:.2f} ms, "
              f"wall {b[2]:.2f} -> {nw[2]:.2f} ms a slot", flush=True)
    for name in ("base", "new"):
        v = got[name]
        print(f"{name}: median sandboxes' CPU per slot "
              f"{statistics.median(x[0] for x in v):.2f} ms, daemon "
              f"{statistics.median(x[1] for x in v):.2f} ms, wall "
              f"{statistics.median(x[2] for x in v):.2f} ms a slot")
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
