# SPDX-License-Identifier: Apache-2.0
"""Soak: mixed load at a steady rate; every interval the daemon's RSS, open
fds, threads, the sandboxes' cgroups and slot mounts, and the interval's
exec p99 are sampled into soak.csv (and plotted to soak.png when matplotlib
is there; the plot never decides pass or fail).

Pass/fail is on slopes (least squares, per minute) after a warm-up (the
first quarter of the run, at least one interval), never on timings:
  rss_kib     < RSS_SLOPE_KIB_MIN KiB/min (not judged for an ASan build:
                its quarantine keeps freed memory by design)
  fds         < COUNT_SLOPE_MIN /min      (each sample: the least of five
  threads     < COUNT_SLOPE_MIN /min       reads 50 ms apart, so calls in
  cgroups     < COUNT_SLOPE_MIN /min       flight do not count; a count
  mounts      < COUNT_SLOPE_MIN /min       that rose by COUNT_RISE_OK or
                                           less over the run passes too)
exec p99 is recorded, not judged.

    python3 tests/faults/soak.py --minutes 60 --interval 60 --out DIR
"""
import argparse
import csv
import os
import random
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from faultlib import Harness, call, cgroup_dirs, inits, proc_stats, slot_mounts  # noqa: E402
from faultlib import UnixClient  # noqa: E402

RSS_SLOPE_KIB_MIN = 512.0
COUNT_SLOPE_MIN = 1.0
COUNT_RISE_OK = 2

POOL = """
profiles:
  default:
    slots_per_sandbox: 4
    min_sandboxes: 1
    max_sandboxes: 2
    execution_timeout_s: 30
"""

FIELDS = ["t_s", "rss_kib", "fds", "threads", "cgroups", "mounts", "exec_p99_ms", "ops"]


def count_cgroups(log):
    n = 0
    for d in cgroup_dirs(log):
        for _, dirs, _ in os.walk(d):
            n += len(dirs)
    return n


def count_mounts(state_dir):
    return sum(len(slot_mounts(p)) for p in inits(state_dir))


class SteadyClient(threading.Thread):
    """One lease at a time; exec, write, read at `rate` ops/s; a new lease
    (reset or not) every 25 ops."""

    def __init__(self, k, sock, rate, lat, lock):
        super().__init__(daemon=True)
        self.rng = random.Random(k)
        self.cl = UnixClient(sock, timeout=30)
        self.period = 1.0 / rate
        self.lat, self.lock = lat, lock
        self.stop = False
        self.ops = 0
        self.errors = []

    def run(self):
        slot = None
        nxt = time.monotonic()
        while not self.stop:
            nxt += self.period
            time.sleep(max(0.0, nxt - time.monotonic()))
            try:
                if slot is None:
                    st, b = call(self.cl, "POST", "/v1/slots", {"timeout_s": 30})
                    if st != 201:
                        self.errors.append(f"acquire {st} {b}")
                        continue
                    slot, n = b["slot_id"], 0
                n += 1
                if n % 25 == 0:
                    reset = "true" if self.rng.random() < 0.5 else "false"
                    call(self.cl, "DELETE", f"/v1/slots/{slot}?reset={reset}")
                    slot = None
                elif n % 3 == 0:
                    data = os.urandom(self.rng.randrange(1, 4096))
                    st, _ = call(self.cl, "PUT", f"/v1/slots/{slot}/file?path=f", data, raw=True)
                    st2, b = call(self.cl, "GET", f"/v1/slots/{slot}/file?path=f&encoding=base64")
                    if st != 200 or st2 != 200:
                        self.errors.append(f"file {st} {st2}")
                else:
                    t0 = time.monotonic()
                    st, b = call(self.cl, "POST", f"/v1/slots/{slot}/exec",
                                 {"tool": "bash", "args": {"command": "echo hi; ls >/dev/null"}})
                    with self.lock:
                        self.lat.append((time.monotonic() - t0) * 1000.0)
                    if st != 200 or not b["success"]:
                        self.errors.append(f"exec {st} {b}")
                self.ops += 1
            except OSError as e:
                self.errors.append(f"{type(e).__name__}: {e}")
                self.cl.close()


def slope_per_min(ts, ys):
    n = len(ts)
    if n < 2:
        return 0.0
    mt, my = sum(ts) / n, sum(ys) / n
    var = sum((t - mt) ** 2 for t in ts)
    if var == 0:
        return 0.0
    return sum((t - mt) * (y - my) for t, y in zip(ts, ys)) / var * 60.0


def plot(rows, path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    keys = FIELDS[1:7]
    fig, axes = plt.subplots(len(keys), 1, figsize=(8, 2 * len(keys)), sharex=True)
    t = [r["t_s"] / 60.0 for r in rows]
    for ax, k in zip(axes, keys):
        ax.plot(t, [r[k] for r in rows], marker=".")
        ax.set_ylabel(k)
        ax.grid(True, alpha=0.3)
    axes[-1].set_xlabel("minutes")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return True


def run(seconds, interval, out_dir, clients=3, rate=4.0, out=print):
    os.makedirs(out_dir, exist_ok=True)
    h = Harness(POOL).start()
    with open(f"/proc/{h.d.proc.pid}/maps") as f:
        asan = "libasan" in f.read()
    lat, lock = [], threading.Lock()
    workers = [SteadyClient(k, h.socket, rate, lat, lock) for k in range(clients)]
    rows = []
    try:
        for w in workers:
            w.start()
        t0 = time.monotonic()
        nxt = t0
        while True:
            nxt += interval
            time.sleep(max(0.0, nxt - time.monotonic()))
            samples = []
            for _ in range(5):
                samples.append(proc_stats(h.d.proc.pid) + (count_cgroups(h.log()),
                                                          count_mounts(h.state_dir)))
                time.sleep(0.05)
            with lock:
                got, lat[:] = sorted(lat), []
            p99 = got[min(len(got) - 1, int(len(got) * 0.99))] if got else 0.0
            row = {"t_s": round(time.monotonic() - t0, 1),
                   "rss_kib": min(s[0] for s in samples),
                   "fds": min(s[1] for s in samples),
                   "threads": min(s[2] for s in samples),
                   "cgroups": min(s[3] for s in samples),
                   "mounts": min(s[4] for s in samples),
                   "exec_p99_ms": round(p99, 1),
                   "ops": sum(w.ops for w in workers)}
            rows.append(row)
            out("soak: " + " ".join(f"{k}={row[k]}" for k in FIELDS))
            if time.monotonic() - t0 >= seconds:
                break
    finally:
        for w in workers:
            w.stop = True
        for w in workers:
            w.join(40)
        rc = h.stop()
        h.cleanup()
    with open(os.path.join(out_dir, "soak.csv"), "w", newline="") as f:
        wr = csv.DictWriter(f, fieldnames=FIELDS)
        wr.writeheader()
        wr.writerows(rows)
    plotted = plot(rows, os.path.join(out_dir, "soak.png"))
    warm = max(1, len(rows) // 4)
    tail = rows[warm:]
    ts = [r["t_s"] for r in tail]
    slopes = {k: slope_per_min(ts, [r[k] for r in tail])
              for k in ("rss_kib", "fds", "threads", "cgroups", "mounts")}
    failures = []
    if slopes["rss_kib"] >= RSS_SLOPE_KIB_MIN and not asan:
        failures.append(f"rss grows {slopes['rss_kib']:.0f} KiB/min (limit {RSS_SLOPE_KIB_MIN})")
    for k in ("fds", "threads", "cgroups", "mounts"):
        rise = tail[-1][k] - tail[0][k] if tail else 0
        if slopes[k] >= COUNT_SLOPE_MIN and rise > COUNT_RISE_OK:
            failures.append(f"{k} grows {slopes[k]:.2f}/min (limit {COUNT_SLOPE_MIN})")
    errors = [e for w in workers for e in w.errors]
    if errors:
        failures.append(f"{len(errors)} client errors, first: {errors[:3]}")
    if rc not in (0, None):
        failures.append(f"slotboxd exited {rc} on SIGTERM")
    out(f"soak: {seconds}s, {len(rows)} samples, ops={rows[-1]['ops'] if rows else 0}, "
        f"slopes/min after warm-up: "
        + ", ".join(f"{k}={v:.2f}" for k, v in slopes.items())
        + (" (ASan: rss not judged)" if asan else "")
        + f"; csv={out_dir}/soak.csv" + (f" png={out_dir}/soak.png" if plotted else " (no plot)")
        + f"; failures={failures}")
    return failures


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=1.5)
    ap.add_argument("--interval", type=float, default=10.0)
    ap.add_argument("--out", default="faults-out")
    ap.add_argument("--clients", type=int, default=3)
    ap.add_argument("--rate", type=float, default=4.0, help="ops/s per client")
    a = ap.parse_args()
    import signal
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(2))
    f = run(a.minutes * 60, a.interval, a.out, a.clients, a.rate,
            out=lambda s: print(s, flush=True))
    sys.exit(1 if f else 0)


if __name__ == "__main__":
    main()
