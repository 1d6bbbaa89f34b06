# SPDX-License-Identifier: Apache-2.0
"""Workspace templates, forks and snapshots against `cp -a` of the same tree.

One phase of bench/run, with a daemon of its own whose profiles use a
template of N small files (10,000 in 100 directories by default). Measured
in the same run on the same machine:
  baseline      `cp -a` of the template into a tmpfs (where workspaces live),
                once (what instantiating a template by copy costs) and 8
                times (what a fork into 8 by copy costs)
  instantiate   release with reset + acquire + first exec on the only slot
                of a pool, so every round starts a fresh workspace from the
                template; the same on an empty workspace for reference
  fork into 8   POST /v1/slots/{id}/fork {"count": 8} of a slot that changed
                100 (then 1,000) files of the template, until all 8 leases
                are answered
  snapshot      save (POST .../snapshot) and restore (acquire with
                "snapshot" + first exec) of that slot
"""
import os
import subprocess
import tempfile
import time

S_INST = "template instantiation"
S_FORK = "fork into 8 ({} files changed)"
S_SNAP = "snapshot of a slot (1000 files changed)"
CP1 = "host cp -a to tmpfs (baseline)"
CP8 = "host cp -a x8 to tmpfs (baseline)"
CPSTORE = "host cp -a to the snapshot store's disk (baseline)"

# Every row this phase adds, as (section, system, scenario).
EXPECTED = (
    [("fork", s, S_INST) for s in (
        CP1, "slotbox from template: reset + acquire + first exec",
        "slotbox empty workspace: reset + acquire + first exec")]
    + [("fork", s, S_FORK.format(k)) for k in (100, 1000) for s in (CP8, "slotbox fork count=8")]
    + [("fork", s, S_SNAP) for s in ("slotbox snapshot save", CPSTORE,
                                     "slotbox restore: acquire + first exec")]
)

PROFILES = """\
default_profile: tpl
profiles:
  tpl:            # the source slot and its 8 children
    workspace_template: {tpl}
    slots_per_sandbox: 9
    min_sandboxes: 1
    max_sandboxes: 1
    idle_timeout: 3600
    disk_mb: 2048
    memory: 4096
  one:            # one slot: every acquire after a reset is a new workspace
    workspace_template: {tpl}
    slots_per_sandbox: 1
    min_sandboxes: 1
    max_sandboxes: 1
    idle_timeout: 3600
  empty:
    slots_per_sandbox: 1
    min_sandboxes: 1
    max_sandboxes: 1
    idle_timeout: 3600
"""

# Appends to 99 files in each of the first DIRS directories, plus one new
# file per directory: 100 changed entries per directory.
CHANGE = ("cd /workspace && for d in $(ls -d d*/ | head -{dirs}); do "
          "for i in $(seq -w 0 98); do echo changed >> $d/f0$i.txt; done; "
          "echo new > $d/new.txt; done")

HASH = "cd /workspace && find . -type f | sort | xargs md5sum | md5sum"


def make_template(root, files):
    os.makedirs(root)
    n = 0
    for d in range(max(1, (files + 99) // 100)):
        sub = os.path.join(root, f"d{d:03}")
        os.mkdir(sub)
        for f in range(100):
            if n == files:
                break
            with open(os.path.join(sub, f"f{f:03}.txt"), "w") as fh:
                fh.write(f"file {d}/{f}\n" * (1 + (d + f) % 7))
            n += 1


def tree_count(root):
    return sum(len(files) for _, _, files in os.walk(root))


def timed(fn, n, before=None):
    """n timed calls of fn (µs), each after an untimed before()."""
    xs = []
    for _ in range(n):
        if before:
            before()
        t = time.perf_counter()
        fn()
        xs.append((time.perf_counter() - t) * 1e6)
    return xs


def phase(b, daemon_cls):
    """Measure and add the rows (b is the Bench)."""
    c = b.c
    files, n = c["files"], c["fork_n"]
    shm = tempfile.mkdtemp(prefix="sbb-fork-", dir="/dev/shm")
    tpl = os.path.join(b.tmp, "template")
    make_template(tpl, files)
    try:
        t = time.monotonic()
        d = daemon_cls(b.build, b.tmp, "forks", PROFILES.format(tpl=tpl))
        try:
            for p in ("tpl", "one", "empty"):
                d.wait_settled(p, timeout=300)
            b.log(f"  daemon with a {files}-file template ready in {time.monotonic() - t:.1f} s")
            measure(b, d, files, n, shm)
        finally:
            d.stop()
    finally:
        subprocess.run(["rm", "-rf", "--one-file-system", shm], check=False)


def cp_rounds(src, dst, copies):
    def run():
        for i in range(copies):
            subprocess.run(["cp", "-a", src, os.path.join(dst, f"c{i}")], check=True)

    def clean():
        subprocess.run(["rm", "-rf", "--one-file-system", dst], check=True)
        os.makedirs(dst)
    return run, clean


def snapshot_rounds(cl, src, tpl, state, n):
    """n snapshot saves of src, each followed by `cp -a` of 1,000 template
    files into a dir beside the snapshot store (µs each). The store's
    filesystem sets much of a save's cost (on ext4, creating inodes soon
    after many were deleted is slow: ext4's recently_deleted check), so the
    baseline takes turns with the saves and meets the same state."""
    saves, cps = [], []
    dst = os.path.join(state, "bench-cp")
    parts = [os.path.join(tpl, f"d{i:03}") for i in range(10)]
    for i in range(n):
        saves += timed(lambda: cl.snapshot(src, f"bench-{i}"), 1)
        os.makedirs(dst)
        cps += timed(lambda: subprocess.run(["cp", "-a", *parts, dst], check=True), 1)
        subprocess.run(["rm", "-rf", "--one-file-system", dst], check=True)
    return saves, cps


def measure(b, d, files, n, shm):
    cl = d.client
    tpl = os.path.join(b.tmp, "template")
    run1, clean1 = cp_rounds(tpl, os.path.join(shm, "cp1"), 1)
    b.add("fork", CP1, S_INST, timed(run1, n, clean1), notes=f"{files} files")
    clean1()
    run1()
    if tree_count(os.path.join(shm, "cp1", "c0")) != files:
        raise RuntimeError("cp -a: the copy does not hold every file")
    clean1()
    run8, clean8 = cp_rounds(tpl, os.path.join(shm, "cp8"), 8)
    cp8 = timed(run8, max(2, n // 4), clean8)
    clean8()

    for profile, system in (("one", "slotbox from template: reset + acquire + first exec"),
                            ("empty", "slotbox empty workspace: reset + acquire + first exec")):
        state = {"slot": cl.acquire("bench-inst", profile=profile, timeout_s=120)}
        want = str(files) if profile == "one" else "0"
        got = cl.bash(state["slot"], "find /workspace -type f | wc -l").output.strip()
        if got != want:
            raise RuntimeError(f"{profile}: a new slot holds {got} files, not {want}")

        def inst(profile=profile, state=state):
            cl.release(state["slot"], reset=True)
            state["slot"] = cl.acquire("bench-inst", profile=profile, timeout_s=120)
            cl.bash(state["slot"], "true")
        b.add("fork", system, S_INST, timed(inst, n),
              notes="one-slot pool, so each round is a new workspace")
        cl.release(state["slot"])
    b.ok("slotbox template", f"a new slot holds the template's {files} files")

    src = cl.acquire("bench-src", profile="tpl", timeout_s=120)
    for changed in (100, 1000):
        r = cl.bash(src, CHANGE.format(dirs=changed // 100), timeout_s=300)
        if not r.success:
            raise RuntimeError(f"changing files in the source slot: {r.output[-300:]}")
        scen = S_FORK.format(changed)
        b.add("fork", CP8, scen, cp8, notes="the whole template, 8 times (same samples in both rows)")
        kids, last = [], {}

        def fork(kids=kids, last=last):
            res = cl._json("POST", f"/v1/slots/{src.slot_id}/fork", {"count": 8})
            kids[:] = [k["slot_id"] for k in res["slots"]]
            last.update(res)

        def release_kids(kids=kids):
            for k in kids:
                cl.release(k)
            kids.clear()
            d.wait_settled("tpl")
        b.add("fork", "slotbox fork count=8", scen, timed(fork, n, release_kids),
              notes=f"{last.get('copied_entries', '?')} entries copied per child; source "
                    f"frozen {last.get('frozen_ms', 0):.1f} ms")
        want = cl.bash(src, HASH).output
        for k in kids:
            if cl.bash(k, HASH).output != want:
                raise RuntimeError(f"fork: child {k}'s tree differs from the source's")
        release_kids()
    b.ok("slotbox fork", "8 children's tree hashes equal the source's")

    saves, cps = snapshot_rounds(cl, src, tpl, os.path.join(d.dir, "state"), n)
    b.add("fork", "slotbox snapshot save", S_SNAP, saves)
    b.add("fork", CPSTORE, S_SNAP, cps,
          notes="1,000 files into the snapshot store's filesystem, one copy after each save")
    got = {}

    def restore():
        got["s"] = cl.acquire("bench-restore", profile="tpl", timeout_s=120, snapshot="bench-0")
        cl.bash(got["s"], "true")

    def drop():
        if got:
            cl.release(got.pop("s"))
            d.wait_settled("tpl")
    b.add("fork", "slotbox restore: acquire + first exec", S_SNAP, timed(restore, n, drop))
    drop()
    cl.release(src)
