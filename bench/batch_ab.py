#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""A/B of the batch row between two builds of slotboxd, in one run: both
daemons side by side with K leased and warmed slots each, and `slotbench
batch` (build B's binary for all) running, in turns, the host's 2-worker
limit, POST /v1/exec batches on daemon A and the same on daemon B (the
order reversed every other round, so that drift hits all alike). Prints
each round's ops/s and its share of that round's limit, and per way the
median share, the machine's CPU per call that slotbench measured and
the daemon's own CPU per call (its threads' schedstat).

    sudo python3 bench/batch_ab.py --a OLD/build --b build [-k 256] [-n 2000] [--rounds 6]

Run as root (slotboxd creates namespaces, mounts, cgroups)."""
import argparse
import csv
import math
import os
import re
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "clients", "python"))
import bench  # noqa: E402
from batch_cpu import PROFILE, settle  # noqa: E402
from exec_ab import daemon_cpu_ns  # noqa: E402

CPU = re.compile(r"machine CPU ([\d.]+) ms/call")


def lease(d, k, tmp, tag):
    """k slots of daemon d, in a file for slotbench."""
    slots = [d.client.acquire(f"batch-ab-{tag}-{i}", profile="b", timeout_s=300)
             for i in range(k)]
    path = os.path.join(tmp, f"slots-{tag}")
    with open(path, "w") as f:
        f.write("".join(s.slot_id + "\n" for s in slots))
    return slots, path


def run_way(sb, args):
    """ops/s and machine CPU ms per call of one slotbench batch row."""
    r = subprocess.run([sb, "batch", *args, "--no-warm"], capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"batch_ab: slotbench batch {' '.join(args)}: {r.stderr.strip()[-800:]}")
    # system, scenario, calls, p50, p99, ops/s, notes
    cols = next(csv.reader(line for line in r.stdout.splitlines() if "," in line))
    m = CPU.search(cols[6])
    return float(cols[5]), float(m.group(1)) if m else float("nan")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--a", required=True, help="build dir A (the baseline)")
    ap.add_argument("--b", required=True, help="build dir B (the change)")
    ap.add_argument("-k", type=int, default=256, help="slots a daemon (default 256)")
    ap.add_argument("-n", type=int, default=2000, help="calls a way and round (default 2000)")
    ap.add_argument("--cmd", default="echo hi")
    ap.add_argument("--rounds", type=int, default=6)
    a = ap.parse_args()
    if a.k < 1 or a.n < a.k or a.rounds < 1:
        sys.exit("batch_ab: -k at least 1, -n at least -k, --rounds at least 1")
    if os.geteuid() != 0:
        sys.exit("batch_ab: run as root")
    builds = {"A": os.path.abspath(a.a), "B": os.path.abspath(a.b)}
    sb = os.path.join(builds["B"], "slotbench")
    cfg = PROFILE.format(sandboxes=math.ceil(a.k / 16))
    with tempfile.TemporaryDirectory(prefix="batch_ab-") as tmp:
        daemons, files = {}, {}
        try:
            for tag, build in builds.items():
                daemons[tag] = bench.Daemon(build, tmp, tag, cfg)
                _, files[tag] = lease(daemons[tag], a.k, tmp, tag)
            def args(tag, way):
                d = daemons[tag or "B"]
                return ["--socket", d.socket, "--slots-file", files[tag or "B"],
                        "--cmd", a.cmd, "--label", f"batch {a.k} slots",
                        "--rounds", "1", "-n", str(a.n), "--ways", way]
            for tag in builds:  # warm: first calls, next namespaces
                run_way(sb, args(tag, "e")[:-4] + ["-n", str(a.k), "--ways", "e"])
            settle()
            share = {"A": [], "B": []}
            cpu = {"limit": [], "A": [], "B": []}
            own = {"A": [], "B": []}  # the daemon's CPU, µs a call
            order = [None, "A", "B"]
            for r in range(a.rounds):
                got = {}
                for tag in (order if r % 2 == 0 else order[::-1]):
                    pid = daemons[tag].proc.pid if tag else None
                    c0 = daemon_cpu_ns(pid) if pid else 0
                    got[tag] = run_way(sb, args(tag, "l" if tag is None else "e"))
                    if pid:
                        own[tag].append((daemon_cpu_ns(pid) - c0) / a.n / 1000)
                limit = got[None][0]
                cpu["limit"].append(got[None][1])
                line = [f"round {r + 1}: limit {limit:.0f} ops/s"]
                for tag in ("A", "B"):
                    share[tag].append(got[tag][0] / limit)
                    cpu[tag].append(got[tag][1])
                    line.append(f"{tag} {got[tag][0]:.0f} ({100 * got[tag][0] / limit:.1f}%)")
                print(", ".join(line), flush=True)
            print(f"\n{a.rounds} rounds, {a.k} slots, {a.n} calls of {a.cmd!r} a way and round")
            print(f"limit: machine CPU {statistics.median(cpu['limit']):.2f} ms/call (median)")
            for tag in ("A", "B"):
                s = sorted(share[tag])
                print(f"{tag} {builds[tag]}: median {100 * statistics.median(s):.1f}% of the "
                      f"limit (rounds {100 * s[0]:.1f}-{100 * s[-1]:.1f}%), machine CPU "
                      f"{statistics.median(cpu[tag]):.2f} ms/call, the daemon's "
                      f"{statistics.median(own[tag]):.0f} µs/call")
            wins = sum(b > x for x, b in zip(share["A"], share["B"]))
            print(f"B above A in {wins} of {a.rounds} rounds")
        finally:
            for d in daemons.values():
                d.stop()


if __name__ == "__main__":
    main()
