#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""bench/grow_stall.py: what a growing pool costs the tool calls of
trajectories already running, two builds in turns.

    bench/grow_stall.py BASE_BUILD NEW_BUILD [-n 300] [--rounds 4] [--before 0]
                        [--shrink]

Each round, each build (in alternating order): a fresh slotboxd with two
profiles, "work" (one warm slot) and "grow" (10 slots per sandbox, none
warm). One process runs `echo hi` in the leased work slot back to back
with the Python client, first alone (--quiet-s seconds), then while this
process leases N grow slots one after another (every tenth acquire starts
a sandbox). --before leases that many grow slots first, unmeasured: the
growth then happens on a host that already holds their sandboxes and
cgroups. Printed per build: the work slot's call latency alone and
during the growth (p50, p99, max, in ms), and how long the N leases took.
--shrink then times the calls again from the release of every grow slot
while the idle reaper retires the grow pool's sandboxes (idle_timeout
1 s), until the last of their cgroups is removed.
The daemon serves both from one event loop, so whatever a sandbox start
does on that loop, every call in flight waits for. A shared machine
drifts between rounds: compare within a round."""
import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "clients", "python"))

import scale  # noqa: E402
from slotbox import Client  # noqa: E402

CONFIG = """\
default_profile: work
profiles:
  work:
    slots_per_sandbox: 1
    min_sandboxes: 1
    max_sandboxes: 1
    idle_timeout: 3600
  grow:
    slots_per_sandbox: 10
    min_sandboxes: 0
    max_sandboxes: {sandboxes}
    idle_timeout: {idle}
    acquire_timeout_s: 300
"""


def exec_loop(socket, slot):
    """The caller's side (a process of its own, so that the leases' Python
    does not share its interpreter): `echo hi` back to back until a line
    arrives on stdin, then that phase's calls' seconds as JSON, and on to
    the next phase, until stdin ends."""
    import selectors
    c = Client("unix://" + socket, timeout=60)
    sel = selectors.DefaultSelector()
    sel.register(sys.stdin, selectors.EVENT_READ)
    while True:
        got = []
        while not sel.select(timeout=0):
            t = time.monotonic()
            r = c.bash(slot, "echo hi")
            got.append(time.monotonic() - t)
            if not r.success or r.output.strip() != "hi":
                sys.exit(f"echo hi answered {r!r}")
        if not sys.stdin.readline():
            break
        print(json.dumps(got), flush=True)
    c.close()


def phase_end(loop):
    """The exec loop's calls since the last phase_end."""
    loop.stdin.write("\n")
    loop.stdin.flush()
    return json.loads(loop.stdout.readline())


def ms_figures(lat):
    v = sorted(x * 1e3 for x in lat)
    return {"n": len(v), "p50": scale.pct(v, 50), "p99": scale.pct(v, 99),
            "max": v[-1]}


def grow_groups(d):
    """The grow sandboxes' groups the daemon still has (its groups per
    hierarchy are on its "event=cgroups" log line): the shrink is over
    when they are removed too, not only when the pool forgot them."""
    with open(os.path.join(d.dir, "slotboxd.log"), errors="replace") as f:
        m = re.search(r"event=cgroups .*", f.read())
    n = 0
    for path in re.findall(r"=v[12]:(\S+)", m.group(0)) if m else ():
        try:
            n += sum(e.startswith("grow-") for e in os.listdir(path))
        except OSError:
            pass
    return n


def one(build, n, tmp, quiet_s, before, shrink):
    d = scale.Daemon(os.path.abspath(build), tmp, 0, 0, [],
                     config=CONFIG.format(sandboxes=(before + n) // 10 + 2,
                                          idle=1 if shrink else 3600))
    loop = None
    try:
        grown = [d.client.acquire(f"before-{i}", profile="grow", timeout_s=300)
                 for i in range(before)]
        slot = d.client.acquire("work", profile="work", timeout_s=60)
        for _ in range(20):  # the slot's first calls (spares, groups)
            d.client.bash(slot, "echo hi")
        loop = subprocess.Popen(
            [sys.executable, __file__, "--exec-loop", d.socket, slot.slot_id],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        time.sleep(quiet_s)
        alone = phase_end(loop)
        t = time.monotonic()
        for i in range(before, before + n):
            grown.append(d.client.acquire(f"grow-{i}", profile="grow", timeout_s=300))
        lease_s = time.monotonic() - t
        during = phase_end(loop)
        shrinking, shrink_s = None, None
        if shrink:
            # every grow slot let go; the idle reaper (1 s) retires their
            # sandboxes, which die and are freed (the first ones while the
            # later slots are still being let go: timed from the first
            # release)
            t = time.monotonic()
            for s in grown:
                d.client.release(s, reset=False)
            while (d.client.status()["pools"]["grow"]["sandboxes"] > 0
                   or grow_groups(d)):
                if time.monotonic() - t > 300:
                    raise RuntimeError("the grow pool did not shrink")
                time.sleep(0.05)
            shrink_s = time.monotonic() - t
            shrinking = ms_figures(phase_end(loop))
        loop.stdin.close()
        if loop.wait(timeout=60) != 0:
            raise RuntimeError("the exec loop failed")
        return ms_figures(alone), ms_figures(during), lease_s, shrinking, shrink_s
    finally:
        if loop and loop.poll() is None:
            loop.kill()
            loop.wait()
        d.stop()


def show(f):
    return f"p50 {f['p50']:.2f} p99 {f['p99']:.2f} max {f['max']:.1f} ms ({f['n']} calls)"


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "--exec-loop":
        return exec_loop(sys.argv[2], sys.argv[3])
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("base")
    ap.add_argument("new")
    ap.add_argument("-n", type=int, default=300, help="grow slots leased per round")
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--before", type=int, default=0,
                    help="grow slots leased first, not measured")
    ap.add_argument("--shrink", action="store_true",
                    help="then release every grow slot and time the calls "
                    "while the idle reaper (1 s) retires their sandboxes")
    ap.add_argument("--quiet-s", type=float, default=3.0,
                    help="seconds of calls before the growth")
    a = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench/grow_stall.py: run as root")
    if a.n < 10 or a.rounds < 1:
        sys.exit("bench/grow_stall.py: -n at least 10, --rounds at least 1")
    tmp = tempfile.mkdtemp(prefix="grow-stall-")
    got = {"base": [], "new": []}
    try:
        for r in range(a.rounds):
            order = [("base", a.base), ("new", a.new)]
            for name, build in order if r % 2 == 0 else order[::-1]:
                got[name].append(one(build, a.n, tmp, a.quiet_s, a.before, a.shrink))
                alone, during, lease_s, shrinking, shrink_s = got[name][-1]
                print(f"round {r} {name}: alone {show(alone)}; while {a.n} "
                      f"more slots were leased ({lease_s:.2f} s): {show(during)}"
                      + (f"; while the grow pool's sandboxes were retired "
                         f"({shrink_s:.2f} s): {show(shrinking)}" if a.shrink else ""),
                      flush=True)
                time.sleep(3)  # the kernel frees the namespaces meanwhile
        for name in ("base", "new"):
            v = got[name]
            med = {k: statistics.median(x[1][k] for x in v)
                   for k in ("p50", "p99", "max")}
            print(f"{name}: medians over {len(v)} rounds, during the growth: "
                  f"p50 {med['p50']:.2f} p99 {med['p99']:.2f} max "
                  f"{med['max']:.1f} ms; alone p99 "
                  f"{statistics.median(x[0]['p99'] for x in v):.2f} ms; leases "
                  f"{statistics.median(x[2] for x in v):.2f} s")
            if a.shrink:
                print(f"{name}: medians while the pool shrank: p50 "
                      f"{statistics.median(x[3]['p50'] for x in v):.2f} p99 "
                      f"{statistics.median(x[3]['p99'] for x in v):.2f} max "
                      f"{statistics.median(x[3]['max'] for x in v):.1f} ms; "
                      f"{statistics.median(x[4] for x in v):.2f} s to retire them")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
