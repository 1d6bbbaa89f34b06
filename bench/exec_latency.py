#!/usr/bin/env python3
"""Exec round trip through the whole stack versus spawning on the host.

Starts its own slotboxd (build dir from $SLOTBOX_BUILD, default build/),
then measures, in the same run on the same machine:
  host   posix_spawn of the command with a pipe for its output (the limit)
  slot   POST /v1/slots/{id}/exec over the unix socket (Python client,
         keep-alive), which spawns the command inside a sandbox slot
  acq    acquire + release of a warm slot (no process creation)
and prints p50/p99 and ops/s for each. Run as root:
    sudo python3 bench/exec_latency.py [-n 500]
"""
import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "clients", "python"))
from slotbox import Client  # noqa: E402


def host_spawn(argv):
    r, w = os.pipe()
    pid = os.posix_spawn(argv[0], argv, os.environ, file_actions=[
        (os.POSIX_SPAWN_DUP2, w, 1), (os.POSIX_SPAWN_CLOSE, r)])
    os.close(w)
    while os.read(r, 65536):
        pass
    os.close(r)
    os.waitpid(pid, 0)


def measure(fn, n):
    for _ in range(min(20, n)):
        fn()
    xs = []
    t0 = time.perf_counter()
    for _ in range(n):
        t = time.perf_counter()
        fn()
        xs.append((time.perf_counter() - t) * 1000)
    total = time.perf_counter() - t0
    xs.sort()
    return xs[len(xs) // 2], xs[min(len(xs) - 1, int(len(xs) * 0.99))], n / total


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=500)
    args = ap.parse_args()
    build = os.environ.get("SLOTBOX_BUILD", os.path.join(ROOT, "build"))
    tmp = tempfile.mkdtemp(prefix="sbx-bench-")
    sock = os.path.join(tmp, "s.sock")
    d = subprocess.Popen([os.path.join(build, "slotboxd"), "--socket", sock, "--state-dir",
                          os.path.join(tmp, "state"), "--log-level", "warn"] + os.environ.get("SLOTBOXD_ARGS", "").split())
    try:
        c = Client(sock)
        for _ in range(200):
            try:
                c.health()
                break
            except OSError:
                time.sleep(0.02)
        slot = c.acquire("bench", timeout_s=30)
        rows = []
        for label, cmd in (("true", ["/bin/true"]), ("bash -c 'echo hi'", ["/bin/bash", "-c", "echo hi"])):
            rows.append((f"host posix_spawn {label}", *measure(lambda: host_spawn(cmd), args.n)))
            body = {"command": "true"} if label == "true" else {"command": "echo hi"}
            if label == "true":
                # bash -c true: bash execs true directly (no fork)
                pass
            rows.append((f"slotbox exec bash -c '{body['command']}'",
                         *measure(lambda: c.exec(slot, "bash", body), args.n)))
        c.release(slot, reset=False)

        def acq_rel():
            s = c.acquire("b", timeout_s=10)
            c.release(s, reset=False)
        rows.append(("slotbox acquire+release (warm)", *measure(acq_rel, args.n)))
        print(f"{'what':44} {'p50 ms':>8} {'p99 ms':>8} {'ops/s':>8}")
        for name, p50, p99, ops in rows:
            print(f"{name:44} {p50:8.3f} {p99:8.3f} {ops:8.0f}")
        h = {r[0]: r[1] for r in rows}
        print("\nratio slot/host p50: true %.2fx, echo %.2fx" % (
            h["slotbox exec bash -c 'true'"] / h["host posix_spawn true"],
            h["slotbox exec bash -c 'echo hi'"] / h["host posix_spawn bash -c 'echo hi'"]))
    finally:
        d.send_signal(signal.SIGTERM)
        d.wait(timeout=20)
        subprocess.run(["rm", "-rf", "--one-file-system", tmp])


if __name__ == "__main__":
    main()
