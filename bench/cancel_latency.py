#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""How fast a call's process tree is gone once its client leaves: N times,
a client posts `sleep 60` (with a background child and a setsid child) on
a connection of its own, waits until the host sees the three processes,
closes the connection, and times until none is left (host view: /proc).
With --baseline BUILD the same is run against that build first (a build
without cancel-on-disconnect shows as "still running" after --give-up s).

    sudo python3 bench/cancel_latency.py --build build --baseline OLD/build -n 20
"""
import argparse
import json
import os
import socket
import statistics
import sys
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from exec_ab import Daemon  # noqa: E402


def pids_with_argv0(mark):
    n = 0
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/cmdline", "rb") as f:
                    n += f.read().split(b"\0")[0] == mark
            except OSError:
                pass
    return n


def one(d, give_up):
    mark = ("sbxlat" + uuid.uuid4().hex[:10]).encode()
    m = mark.decode()
    cmd = (f"(exec -a {m} sleep 60) & setsid bash -c 'exec -a {m} sleep 60' & "
           f"exec -a {m} sleep 60")
    body = json.dumps({"tool": "bash", "args": {"command": cmd}}).encode()
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(d.socket)
    s.sendall(f"POST /v1/slots/{d.slot}/exec HTTP/1.1\r\nHost: x\r\n"
              f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
    deadline = time.monotonic() + 30
    while pids_with_argv0(mark) < 3:
        if time.monotonic() > deadline:
            sys.exit("the call did not start")
        time.sleep(0.005)
    s.close()
    t0 = time.monotonic()
    while pids_with_argv0(mark):
        if time.monotonic() - t0 > give_up:
            return None
        time.sleep(0.002)
    return (time.monotonic() - t0) * 1000.0


def run(build, n, give_up):
    d = Daemon(build, "lat")
    try:
        xs = [one(d, give_up) for _ in range(n)]
    finally:
        d.stop()  # ends what a build without cancel left running
    done = [x for x in xs if x is not None]
    if not done:
        return f"{build}: still running after {give_up:g} s in {n} of {n} tries"
    return (f"{build}: tree gone after p50 {statistics.median(done):.1f} ms, "
            f"max {max(done):.1f} ms ({len(done)} of {n}; "
            f"{n - len(done)} still running after {give_up:g} s)")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", required=True)
    ap.add_argument("--baseline")
    ap.add_argument("-n", type=int, default=20)
    ap.add_argument("--give-up", type=float, default=3.0)
    o = ap.parse_args()
    if o.baseline:
        print(run(o.baseline, min(o.n, 3), o.give_up))
    print(run(o.build, o.n, o.give_up))


if __name__ == "__main__":
    main()
