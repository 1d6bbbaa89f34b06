# SPDX-License-Identifier: Apache-2.0
"""The nemesis loop: clients load the daemon while, at moments a seeded RNG
picks, one process is killed with SIGKILL; after each round the invariants
are checked (docs/faults.md lists them).

    python3 tests/faults/nemesis.py --rounds 100 --seed 42 [--workers 4]

Prints the seed first, then one line per round; exits 1 on a violation.
"""
import argparse
import os
import random
import signal
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from faultlib import Harness, call, inventory, listdir  # noqa: E402
from load import Worker  # noqa: E402

POOL = """
profiles:
  default:
    slots_per_sandbox: 4
    min_sandboxes: 1
    max_sandboxes: 4
    execution_timeout_s: 30
    idle_timeout_s: 3600
"""

TARGETS = ["daemon", "init", "leader", "spare", "call"]


def nemesis_kill(h, rng, log):
    """Kill one process of the chosen kind; returns what was killed."""
    what = rng.choice(TARGETS)
    if what == "daemon":
        h.kill9()
        return "daemon"
    tree = inventory(h)["tree"]
    pool = {"init": tree["inits"], "leader": tree["leaders"],
            "spare": tree["spares"], "call": tree["calls"]}[what]
    if not pool:
        return f"{what}(none)"
    pid = rng.choice(sorted(pool))
    try:
        os.kill(pid, signal.SIGKILL)
    except OSError:
        return f"{what}(gone)"
    return f"{what}:{pid}"


def pools_status(cl):
    st, b = call(cl, "GET", "/v1/status")
    if st != 200:
        raise AssertionError(f"status: {st} {b}")
    tot = {"sandboxes": 0, "starting_sandboxes": 0, "total_slots": 0,
           "available_slots": 0, "leased_slots": 0}
    for p in b["pools"].values():
        for k in tot:
            tot[k] += p.get(k, 0)
    return tot


def host_violations(h, cl, workers):
    """Compare the daemon's status with the host and the clients."""
    v = []
    inv = inventory(h)
    st = pools_status(cl)
    sbs = set(inv["tree"]["inits"].values())
    recs = {k[3:]: r for k, r in inv["journal"].items() if k.startswith("sb-") and r}
    leases = {k[6:]: r for k, r in inv["journal"].items() if k.startswith("lease-") and r}
    if st["starting_sandboxes"]:
        v.append(f"still starting: {st}")
    if len(sbs) != st["sandboxes"]:
        v.append(f"status sandboxes {st['sandboxes']} != inits on host {sorted(sbs)}")
    if set(recs) != sbs:
        v.append(f"journal sandboxes {sorted(recs)} != inits {sorted(sbs)}")
    n_slots = sum(r["n_slots"] for r in recs.values())
    if n_slots != st["total_slots"]:
        v.append(f"status total_slots {st['total_slots']} != journal {n_slots}")
    if len(leases) != st["leased_slots"]:
        v.append(f"status leased {st['leased_slots']} != lease records {len(leases)}")
    if set(inv["cgroups"]) != sbs:
        v.append(f"cgroups {sorted(inv['cgroups'])} != sandboxes {sorted(sbs)}")
    per_dir = {}
    for g in inv["cg_stock"]:
        per_dir[os.path.dirname(g)] = per_dir.get(os.path.dirname(g), 0) + 1
    if any(n > 1 for n in per_dir.values()):
        v.append(f"more than one memory group made ahead: {inv['cg_stock']}")
    for g in inv["cg_stock"]:
        try:
            with open(os.path.join(g, "tasks")) as f:
                tasks = f.read().split()
        except OSError:
            tasks = []  # taken by a first call since the listing
        if tasks:
            v.append(f"a memory group made ahead holds tasks {tasks}: {g}")
    if set(inv["ctl"]) != sbs:
        v.append(f"ctl sockets {inv['ctl']} != sandboxes {sorted(sbs)}")
    if set(inv["scratch"]) != sbs:
        v.append(f"scratch dirs {inv['scratch']} != sandboxes {sorted(sbs)}")
    for sub, names in inv["spares"].items():
        if len(names) > 64:
            v.append(f"{len(names)} spares in {sub}, more than 64")
    for n in inv["spares"]["journal"]:
        if inv["journal"].get(n) is not None:
            v.append(f"journal spare {n} is not blank")
    for n in inv["spares"]["sandboxes"]:
        if listdir(os.path.join(h.state_dir, "sandboxes", n)):
            v.append(f"spare scratch dir {n} is not empty")
    if inv["host_mounts"]:
        v.append(f"host mounts under the state dir: {inv['host_mounts']}")
    for sid, mounts in inv["slot_mounts"].items():
        idx = [i for i, _ in mounts]
        n = recs.get(sid, {}).get("n_slots", 0)
        if len(idx) != len(set(idx)) or len(idx) > n:
            v.append(f"sandbox {sid}: slot mounts {sorted(mounts)} (slots {n})")
    per_init = {}
    for leader, init in inv["tree"]["leaders"].items():
        per_init[init] = per_init.get(init, 0) + 1
    for init, n in per_init.items():
        sid = inv["tree"]["inits"][init]
        if n > recs.get(sid, {}).get("n_slots", 0):
            v.append(f"sandbox {sid}: {n} leaders")
    if inv["tree"]["calls"]:
        v.append(f"processes of calls left running: {sorted(inv['tree']['calls'])}")
    if inv["tree"]["other"]:
        v.append(f"processes no sandbox accounts for: {inv['tree']['other']}")
    # leases no client knows: only from acquires/forks whose answer was lost
    held = set()
    for w in workers:
        held |= {s.rsplit(".", 1)[0] for s in w.leases}
        held |= {s.rsplit(".", 1)[0] for s in w.pending_release}
    unknown = [(b, r["lease_seq"]) for b, r in leases.items() if b not in held]
    allowed = sum(w.uncertain_new for w in workers)
    if len(unknown) > allowed:
        v.append(f"{len(unknown)} leases no client holds, {allowed} answers lost: {unknown}")
    missing = [s for w in workers for s in w.leases if s.rsplit(".", 1)[0] not in leases]
    if missing:
        v.append(f"leases held by clients with no journal record: {missing}")
    return v, unknown


def client_checks(h, workers):
    """Every held lease is valid (its files as written) or sandbox_lost;
    a request the daemon does not answer in 30 s is a violation too."""
    for w in workers:
        try:
            client_check(w)
        except (OSError, ValueError) as e:
            w.violate(f"no answer during the checks: {type(e).__name__}: {e}")
            w.cl.close()


def client_check(w):
    for lease in list(w.leases.values()):
        st, b = call(w.cl, "GET", f"/v1/slots/{lease.slot_id}")
        if st != 200:
            w.judge(lease, st, b, "get")
            continue
        if b.get("state") == "error":
            # the daemon says its sandbox is lost (a lease with no file
            # to read would not learn it otherwise): a trainer releases it
            w.lost(lease, "get")
            continue
        for path in sorted(lease.manifest):
            if not w.check_file(lease, path):
                break
    # after the reads: a lease found lost is released now, as a trainer
    # would, so that its dead sandbox can go before the host is checked
    for sid in sorted(w.pending_release):
        st, b = call(w.cl, "DELETE", f"/v1/slots/{sid}")
        if st not in (204, 404, 409, 502):
            w.violate(f"late release {sid}: {st} {b}")
    w.pending_release.clear()


def settle(h, cl, workers, timeout):
    """Wait until the host matches the daemon; return what still differs."""
    deadline = time.monotonic() + timeout
    while True:
        v, unknown = host_violations(h, cl, workers)
        if not v or time.monotonic() > deadline:
            return v, unknown
        time.sleep(0.5)


def run(rounds, seed, n_workers=3, round_s=5.0, out=print, config=POOL):
    rng = random.Random(seed)
    out(f"nemesis: seed={seed} rounds={rounds} workers={n_workers} round_s={round_s}")
    h = Harness(config).start()
    stats = {"lock": threading.Lock()}
    workers = [Worker(k, h.socket, seed, stats) for k in range(n_workers)]
    violations = []
    try:
        for w in workers:
            w.start()
        admin = h.client()
        for r in range(1, rounds + 1):
            t0 = time.monotonic()
            for w in workers:
                w.running.set()
            kills = []
            moments = sorted(rng.uniform(0.3, round_s - 0.3) for _ in range(rng.choice((1, 1, 2))))
            for m in moments:
                time.sleep(max(0.0, t0 + m - time.monotonic()))
                kills.append(nemesis_kill(h, rng, out))
                if not h.alive():
                    time.sleep(rng.uniform(0, 1.0))
                    h.restart()  # the supervisor
            time.sleep(max(0.0, t0 + round_s - time.monotonic()))
            for w in workers:
                w.pause()
            died = []
            if not h.alive():  # the nemesis restarts what it kills at once
                died.append(f"slotboxd exited by itself: rc {h.d.proc.poll()}, log: "
                            + h.log()[-1500:])
            h.restart()
            admin.close()
            client_checks(h, workers)
            v = died
            # leases granted to requests whose answer was lost: within
            # their number, released (their sandbox may be a dead one)
            _, unknown = host_violations(h, admin, workers)
            allowed = sum(w.uncertain_new for w in workers)
            if len(unknown) > allowed:
                v.append(f"{len(unknown)} leases no client holds, "
                         f"{allowed} answers lost: {unknown}")
            for b, seq in unknown:
                call(admin, "DELETE", f"/v1/slots/{b}.{seq}")
            for w in workers:
                w.uncertain_new = 0
                v += w.violations
                w.violations = []
            v += settle(h, admin, workers, 20)[0]
            violations += [f"round {r}: {x}" for x in v]
            out(f"round {r}: kills={kills} leases={sum(len(w.leases) for w in workers)} "
                f"restarts={h.restarts} violations={len(v)}"
                + "".join(f"\n  {x}" for x in v))
        counts = {k: n for k, n in sorted(stats.items()) if k != "lock"}
        out(f"nemesis: done seed={seed} rounds={rounds} violations={len(violations)} ops={counts}")
        for w in workers:
            w.stop_flag = True
            w.running.set()
        rc = h.stop()
        if rc not in (0, None):
            violations.append(f"slotboxd exited {rc} on SIGTERM")
        return violations
    finally:
        for w in workers:
            w.stop_flag = True
        h.cleanup()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--workers", type=int, default=3)
    ap.add_argument("--round-s", type=float, default=5.0)
    a = ap.parse_args()
    # a TERM still cleans up (the finally blocks run)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(2))
    seed = a.seed if a.seed is not None else random.SystemRandom().randrange(1 << 31)
    v = run(a.rounds, seed, a.workers, a.round_s,
            out=lambda s: print(s, flush=True))
    sys.exit(1 if v else 0)


if __name__ == "__main__":
    main()
