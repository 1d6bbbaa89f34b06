#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""The Python client under asyncio: concurrent trajectories and per-call
latency. One phase of bench/run (rows in section "python"), or on its own:

    sudo python3 bench/pyclient.py [--build build] [--quick]

Measured in the same run, on a daemon of its own (64 slots, warm):
  64 trajectories   64 asyncio tasks, each acquire + bash `sleep 2` + release,
                    all at once: through SlotboxToolBackend (the asyncio
                    client) and through the previous backend's way, a sync
                    Client call per asyncio.to_thread (the default thread
                    pool); printed as wall time next to the 2.0 s ideal
                    and the host's floor: 64 posix_spawn of the same
                    command at once (slotbench burst), in turns with the
                    asyncio rounds.
  per call          bash -c 'echo hi' one after another: AsyncClient, the
                    sync Client, and the host's own posix_spawn of the same
                    command (the limit, from slotbench when built).
"""
import argparse
import asyncio
import csv
import io
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "clients", "python"))

from slotbox import AsyncClient, Client, SlotboxToolBackend  # noqa: E402
from timing import timed  # noqa: E402

N_TRAJ, SLEEP_S = 64, 2.0
S_TRAJ = f"{N_TRAJ} trajectories x sleep {SLEEP_S:g} (wall)"
S_CALL = "exec bash -c 'echo hi' one at a time"
IDEAL = f"ideal ({SLEEP_S:g} s)"
FLOOR = f"host posix_spawn, {N_TRAJ} at once (floor)"
ASYNC_BACKEND = "slotbox SlotboxToolBackend (asyncio client)"
THREAD_BACKEND = "asyncio.to_thread + sync Client (previous backend)"
TARGET_S = 2.5
PY_BOUND = 1.4  # issue 22: the Python client per call, against the limit

EXPECTED = (
    [("python", s, S_TRAJ) for s in (IDEAL, FLOOR, ASYNC_BACKEND, THREAD_BACKEND)]
    + [("python", s, S_CALL) for s in ("host posix_spawn (limit)", "slotbox AsyncClient",
                                       "slotbox Client (sync)")]
)

PROFILES = """\
default_profile: traj
profiles:
  traj:
    slots_per_sandbox: 16
    min_sandboxes: 4
    max_sandboxes: 4
    idle_timeout: 3600
    pids_max: 4096
"""


async def trajectories_async(socket):
    backend = SlotboxToolBackend(endpoint=socket)
    await backend.start()

    async def one(i):
        slot = await backend.acquire(f"bench-{i}")
        try:
            r = (await backend.execute_batch([(slot, "bash", {"command": f"sleep {SLEEP_S:g}"})]))[0]
            if not r.success:
                raise RuntimeError(f"sleep failed: {r.error}")
        finally:
            await backend.release(slot)
    t = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(N_TRAJ)))
    wall = time.perf_counter() - t
    await backend.stop()
    return wall


async def trajectories_threaded(socket):
    client = Client(socket)

    async def one(i):
        slot = await asyncio.to_thread(client.acquire, f"bench-t{i}")
        try:
            await asyncio.to_thread(client.bash, slot, f"sleep {SLEEP_S:g}")
        finally:
            await asyncio.to_thread(client.release, slot, False)
    t = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(N_TRAJ)))
    wall = time.perf_counter() - t
    client.close()
    return wall


def per_call(socket, prog, n, rounds=10):
    """The limit (when slotbench, prog, is built), the sync Client and
    AsyncClient take turns in rounds, so that a machine whose speed drifts
    (other tenants) slows them alike."""
    lim, sync, aio = ([] if prog else None), [], []
    per = max(1, n // rounds)
    with Client(socket) as c:
        slot = c.acquire("bench-call", timeout_s=60)

        async def run(m):
            async with AsyncClient(socket) as ac:
                for _ in range(2):
                    await ac.bash(slot, "echo hi")
                xs = []
                for _ in range(m):
                    t = time.perf_counter()
                    await ac.bash(slot, "echo hi")
                    xs.append((time.perf_counter() - t) * 1e6)
                return xs
        for _ in range(rounds):
            if prog:
                lim += host_limit(prog, per)
            sync += timed(lambda: c.bash(slot, "echo hi"), per)
            aio += asyncio.run(run(per))
        c.release(slot, reset=False)
    return aio, sync, lim


def slotbench_of(build):
    """build's slotbench, or None when it is not built."""
    prog = os.path.join(build, "slotbench")
    return prog if os.path.exists(prog) else None


def host_floor(prog):
    """Seconds the host itself takes for N_TRAJ calls of bash -c 'sleep 2'
    started at once (slotbench burst)."""
    r = subprocess.run([prog, "burst", "--cmd", f"sleep {SLEEP_S:g}", "--parallel", str(N_TRAJ),
                        "-n", "1", "--label", S_TRAJ], capture_output=True, text=True,
                       timeout=600, check=True)
    rec = next(csv.reader(io.StringIO(r.stdout)))
    return float(rec[3]) / 1e6


def host_limit(prog, n):
    """n latencies (µs) of the host's posix_spawn of bash -c 'echo hi' (the
    limit), timed by slotbench as the other rows' limits are."""
    with tempfile.NamedTemporaryFile("r", suffix=".csv") as f:
        subprocess.run([prog, "spawn", "--samples", f.name, "-n", str(n), "--system", "limit",
                        "--label", S_CALL, "--expect", "hi\n", "--", "/bin/bash", "-c", "echo hi"],
                       capture_output=True, text=True, timeout=600, check=True)
        return [float(rec[2]) for rec in csv.reader(f) if len(rec) == 3]


def measure(b, d, rounds, n):
    prog = slotbench_of(b.build)
    walls, floor = [], []
    for _ in range(rounds):
        if prog:
            floor.append(host_floor(prog))
        walls.append(asyncio.run(trajectories_async(d.socket)))
        d.wait_settled("traj")
    threaded = asyncio.run(trajectories_threaded(d.socket))
    d.wait_settled("traj")
    b.add("python", IDEAL, S_TRAJ, [SLEEP_S * 1e6], ops=N_TRAJ / SLEEP_S,
          notes="every sleep at once, nothing else")
    if floor:
        f = b.add("python", FLOOR, S_TRAJ, [w * 1e6 for w in floor],
                  ops=round(N_TRAJ / sorted(floor)[len(floor) // 2], 1),
                  notes=f"slotbench burst: {N_TRAJ} threads, a posix_spawn of bash -c "
                        f"'sleep {SLEEP_S:g}' each; {rounds} round(s) in turns with slotbox's")
        f.update(baseline=f"ideal {SLEEP_S:.3f} s", vs_baseline=round(min(floor) / SLEEP_S, 2))
    else:
        b.skip("python", FLOOR, S_TRAJ, "slotbench not built")
    r = b.add("python", ASYNC_BACKEND, S_TRAJ, [w * 1e6 for w in walls],
              ops=round(N_TRAJ / sorted(walls)[len(walls) // 2], 1),
              notes=f"acquire + execute_batch + release per task; {rounds} round(s)")
    r.update(target=f"≤ {TARGET_S} s", met=max(walls) <= TARGET_S)
    if floor:
        base = sorted(floor)[len(floor) // 2]
        r.update(baseline=f"floor p50 {base:.3f} s",
                 vs_baseline=round(sorted(walls)[len(walls) // 2] / base, 2))
    else:
        r.update(baseline=f"ideal {SLEEP_S:.3f} s", vs_baseline=round(min(walls) / SLEEP_S, 2))
    t = b.add("python", THREAD_BACKEND, S_TRAJ, [threaded * 1e6], ops=round(N_TRAJ / threaded, 1),
              notes=f"default executor: {min(32, (os.cpu_count() or 1) + 4)} threads")
    t.update(baseline=f"ideal {SLEEP_S:.3f} s", vs_baseline=round(threaded / SLEEP_S, 2))
    b.log(f"  {S_TRAJ}: asyncio {', '.join(f'{w:.2f}' for w in walls)} s, "
          f"thread pool {threaded:.2f} s, ideal {SLEEP_S:.2f} s")
    aio, sync, limit = per_call(d.socket, prog, n)
    rows = []
    if limit:
        rows.append(b.add("python", "host posix_spawn (limit)", S_CALL, limit,
                          notes="slotbench; 10 rounds taking turns with both clients"))
    else:
        b.skip("python", "host posix_spawn (limit)", S_CALL, "slotbench not built")
    rows.append(b.add("python", "slotbox AsyncClient", S_CALL, aio,
                      notes="keep-alive, unix socket; in turns with the limit"))
    rows.append(b.add("python", "slotbox Client (sync)", S_CALL, sync,
                      notes="keep-alive, unix socket; in turns with the limit"))
    if limit:
        base = rows[0]["p50_us"]
        for r in rows[1:]:
            r.update(baseline=f"limit p50 {base / 1000:.3f} ms",
                     vs_baseline=round(r["p50_us"] / base, 2),
                     target=f"p50 ≤ {PY_BOUND}× limit", met=r["p50_us"] / base <= PY_BOUND)


def phase(b, daemon_cls):
    """bench/run's phase (b is the Bench)."""
    quick = b.mode == "quick"
    d = daemon_cls(b.build, b.tmp, "python", PROFILES)
    try:
        d.wait_settled("traj", timeout=120)
        measure(b, d, 1 if quick else 3, 30 if quick else 1000)
    finally:
        d.stop()


class _Alone:
    """Just enough of bench.Bench to print the rows without the suite."""

    def __init__(self, build, mode):
        self.build, self.mode, self.rows = build, mode, []
        self.tmp = tempfile.mkdtemp(prefix="sbb-py-", dir="/tmp")

    def log(self, msg):
        print(msg, file=sys.stderr, flush=True)

    def add(self, section, system, scenario, samples=None, ops=None, notes="", **extra):
        xs = sorted(samples or [])
        row = dict(section=section, system=system, scenario=scenario, notes=notes, **extra)
        if xs:
            row.update(n=len(xs), p50_us=round(xs[len(xs) // 2], 1),
                       p99_us=round(xs[min(len(xs) - 1, int(len(xs) * 0.99))], 1))
        self.rows.append(row)
        return row

    def skip(self, section, system, scenario, why):
        self.rows.append(dict(section=section, system=system, scenario=scenario, notes=why))


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=os.environ.get("SLOTBOX_BUILD", "build"))
    ap.add_argument("--quick", action="store_true")
    a = ap.parse_args()
    sys.path.insert(0, HERE)
    from bench import Daemon
    b = _Alone(os.path.abspath(a.build), "quick" if a.quick else "full")
    try:
        phase(b, Daemon)
    finally:
        subprocess.run(["rm", "-rf", "--one-file-system", b.tmp], check=False)
    print("| system | scenario | n | p50 | vs baseline | target |")
    print("|---|---|---|---|---|---|")
    for r in b.rows:
        p50 = f"{r['p50_us'] / 1000:.3f} ms" if r.get("p50_us", 0) < 1e5 and "p50_us" in r else \
            (f"{r['p50_us'] / 1e6:.2f} s" if "p50_us" in r else r["notes"])
        print(f"| {r['system']} | {r['scenario']} | {r.get('n', '')} | {p50} | "
              f"{r.get('vs_baseline', '')} | {r.get('target', '')}"
              f"{'' if 'met' not in r else (' met' if r['met'] else ' MISSED')} |")


if __name__ == "__main__":
    main()
