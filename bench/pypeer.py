#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""The Python client's side of slotbench's exec and batch rows: slotbench
starts it once (`--system NAME -- pypeer.py ...`) and it takes its turns
with the limit and the C client, so that its rows compare with a limit
measured in the same rounds.

    pypeer.py --socket S (--slot ID ... | --slots-file F) [--batch] [--cmd C]

Reads a number M per line on stdin; makes M calls of `bash -c C` through
the sync Client, checks every result, and answers with one line of
latencies in µs. One call at a time (Client.bash, a latency per call,
spread over the slots as slotbench spreads the C client's), or with
--batch as POST /v1/exec batches of one call per slot (exec_batch, a
latency per request). 0 or end of input: exit.
"""
import argparse
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "clients",
                                "python"))
from slotbox import Client  # noqa: E402


def one_at_a_time(client, slots, cmd, expect, m, k):
    lat = []
    for _ in range(m):
        slot = slots[(k * 7919) % len(slots)]
        k += 1
        t = time.perf_counter()
        r = client.bash(slot, cmd)
        lat.append((time.perf_counter() - t) * 1e6)
        if not (r.success and r.output == expect):
            sys.exit(f"pypeer: a call in {slot} failed: {r}")
    return lat, k


def batches(client, slots, cmd, expect, m):
    reqs = [(s, "bash", {"command": cmd}) for s in slots]
    lat, done = [], 0
    while done < m:
        part = reqs[:min(len(reqs), m - done)]
        t = time.perf_counter()
        res = client.exec_batch(part, timeout_s=60)
        lat.append((time.perf_counter() - t) * 1e6)
        bad = [r for r in res if not (r.success and r.output == expect)]
        if len(res) != len(part) or bad:
            sys.exit(f"pypeer: {len(bad)} of {len(part)} calls failed: {bad[:1]}")
        done += len(part)
    return lat


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--socket", required=True)
    ap.add_argument("--slot", action="append", default=[])
    ap.add_argument("--slots-file")
    ap.add_argument("--batch", action="store_true")
    ap.add_argument("--cmd", default="echo hi")
    ap.add_argument("--expect", help="every call's output (default: the host's bash -c CMD's)")
    a = ap.parse_args()
    slots = list(a.slot)
    if a.slots_file:
        with open(a.slots_file) as f:
            slots += [line.strip() for line in f if line.strip()]
    if not slots:
        sys.exit("pypeer: no slots (--slot or --slots-file)")
    expect = a.expect
    if expect is None:
        expect = subprocess.run(["/bin/bash", "-c", a.cmd], capture_output=True,
                                text=True, check=True).stdout
    client = Client(a.socket, timeout=600)
    k = 0
    for line in sys.stdin:
        m = int(line)
        if m <= 0:
            break
        if a.batch:
            lat = batches(client, slots, a.cmd, expect, m)
        else:
            lat, k = one_at_a_time(client, slots, a.cmd, expect, m, k)
        print(" ".join(f"{x:.1f}" for x in lat), flush=True)


if __name__ == "__main__":
    main()
