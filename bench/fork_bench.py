#!/usr/bin/env python3
"""Workspace templates, forks and snapshots versus `cp -a` of the same tree.

Builds a template of --files small files (default 10,000 in 100 dirs),
starts its own slotboxd (build dir from $SLOTBOX_BUILD, default build/)
with two profiles, one with that workspace_template and one without, and
measures in the same run on the same machine:
  cp -a           the whole template into a tmpfs (where workspaces live),
                  once, and 8 times (what a fork into 8 would cost by copy)
  instantiate     release with reset + acquire + first exec on a slot of a
                  one-slot pool, so every round starts a new workspace from
                  the template (and, for reference, an empty one)
  fork into 8     POST /v1/slots/{id}/fork {"count": 8} of a slot that
                  changed 100 files of the template (until all 8 leases are
                  up), and the same with 1,000 changed files
  snapshot        save (POST .../snapshot) and restore (acquire with
                  "snapshot") of that slot
and prints p50 and mean of each. No pass/fail: numbers to read. Run as root:
    sudo python3 bench/fork_bench.py [-n 20] [--files 10000]
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

CHANGE = ("cd /workspace && for f in $(ls -d d0*/ | head -{dirs}); do "
          "for i in $(seq -w 0 {per}); do echo changed >> $f/f0$i.txt; done; done")


def make_template(root, files):
    dirs = max(1, files // 100)
    os.makedirs(root)
    n = 0
    for d in range(dirs):
        sub = os.path.join(root, f"d{d:03}")
        os.mkdir(sub)
        for f in range(100):
            if n == files:
                break
            with open(os.path.join(sub, f"f{f:03}.txt"), "w") as fh:
                fh.write(f"file {d}/{f}\n" * (1 + (d + f) % 7))
            n += 1


def timed(fn, n, before=None):
    xs = []
    for _ in range(n):
        if before:
            before()
        t = time.perf_counter()
        fn()
        xs.append((time.perf_counter() - t) * 1000)
    return statistics.median(xs), statistics.mean(xs)


def cp_a(src, dst_root, copies):
    def run():
        for i in range(copies):
            subprocess.run(["cp", "-a", src, os.path.join(dst_root, f"c{i}")], check=True)

    def clean():
        subprocess.run(["rm", "-rf", "--one-file-system", dst_root], check=True)
        os.makedirs(dst_root)
    return run, clean


def wait_free(c, profile, n):
    for _ in range(2000):
        if c.status()["pools"][profile]["available_slots"] >= n:
            return
        time.sleep(0.005)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=20)
    ap.add_argument("--files", type=int, default=10000)
    args = ap.parse_args()
    build = os.environ.get("SLOTBOX_BUILD", os.path.join(ROOT, "build"))
    tmp = tempfile.mkdtemp(prefix="sbx-forkbench-", dir="/tmp")
    shm = tempfile.mkdtemp(prefix="sbx-forkbench-", dir="/dev/shm")
    tpl = os.path.join(tmp, "template")
    make_template(tpl, args.files)
    cfg = os.path.join(tmp, "profiles.yaml")
    with open(cfg, "w") as f:
        f.write(f"""
default_profile: tpl
profiles:
  tpl:
    workspace_template: {tpl}
    slots_per_sandbox: 9
    min_sandboxes: 1
    max_sandboxes: 1
    disk_mb: 2048
    memory: 4096
  one:
    workspace_template: {tpl}
    slots_per_sandbox: 1
    min_sandboxes: 1
    max_sandboxes: 1
  empty:
    slots_per_sandbox: 1
    min_sandboxes: 1
    max_sandboxes: 1
""")
    sock = os.path.join(tmp, "s.sock")
    t0 = time.perf_counter()
    d = subprocess.Popen([os.path.join(build, "slotboxd"), "--socket", sock, "--state-dir",
                          os.path.join(tmp, "state"), "--config", cfg, "--log-level", "warn"])
    try:
        c = Client(sock)
        for _ in range(6000):
            try:
                c.health()
                break
            except OSError:
                time.sleep(0.02)
        prep = (time.perf_counter() - t0) * 1000
        rows = []
        run, clean = cp_a(tpl, os.path.join(shm, "cp"), 1)
        rows.append((f"cp -a template ({args.files} files) to tmpfs", *timed(run, args.n, clean)))
        run8, clean8 = cp_a(tpl, os.path.join(shm, "cp8"), 8)
        rows.append(("cp -a template x8 to tmpfs", *timed(run8, max(3, args.n // 4), clean8)))
        clean8()
        clean()

        for profile in ("one", "empty"):
            s = c.acquire("warm", profile=profile, timeout_s=60)
            state = {"slot": s}

            def inst(profile=profile, state=state):
                c.release(state["slot"], reset=True)
                state["slot"] = c.acquire("i", profile=profile, timeout_s=60)
                c.bash(state["slot"], "true")
            label = "template" if profile == "one" else "empty workspace"
            rows.append((f"instantiate {label}: reset+acquire+exec", *timed(inst, args.n)))
            c.release(state["slot"])

        wait_free(c, "tpl", 9)
        src = c.acquire("src", profile="tpl", timeout_s=60)
        for changed, dirs, per in ((100, 1, 99), (1000, 10, 99)):
            c.bash(src, CHANGE.format(dirs=dirs, per=per), timeout_s=120)
            kids = []
            stats = {}

            def fork(kids=kids, stats=stats):
                r = c._json("POST", f"/v1/slots/{src.slot_id}/fork", {"count": 8})
                kids[:] = [k["slot_id"] for k in r["slots"]]
                stats.update(r)

            def release_kids(kids=kids):
                for k in kids:
                    c.release(k)
                kids.clear()
                wait_free(c, "tpl", 8)
            p50, mean = timed(fork, args.n, release_kids)
            rows.append((f"fork into 8 ({changed} files changed)", p50, mean))
            rows.append((f"  last one's copy: {stats['copied_entries']} entries x8, "
                         f"source frozen {stats['frozen_ms']:.1f} ms", stats["copy_ms"],
                         stats["copy_ms"]))
            release_kids()
        names = iter(range(10 ** 6))

        def snap():
            c.snapshot(src, f"b{next(names)}")
        rows.append(("snapshot save (1000 files changed)", *timed(snap, args.n)))
        got = {}

        def restore():
            got["s"] = c.acquire("r", timeout_s=60, snapshot="b0")
            c.bash(got["s"], "true")
        rows.append(("snapshot restore: acquire+exec", *timed(
            restore, args.n, lambda: got and c.release(got.pop("s")))))
        print(f"template prepared and daemon ready in {prep:.0f} ms "
              f"(a {args.files}-file copy to the state dir)\n")
        print(f"{'what':52} {'p50 ms':>9} {'mean ms':>9}")
        for name, p50, mean in rows:
            print(f"{name:52} {p50:9.2f} {mean:9.2f}")
    finally:
        d.send_signal(signal.SIGTERM)
        d.wait(timeout=60)
        subprocess.run(["rm", "-rf", "--one-file-system", tmp, shm])


if __name__ == "__main__":
    main()
