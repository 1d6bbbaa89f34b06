# SPDX-License-Identifier: Apache-2.0
"""End-to-end tests of resource limits (issue 5): every slot gets the
profile's cpu, memory_mb and pids_max in cgroups of its own, a fork bomb or
an allocation that outgrows memory_mb stays in its slot, and an OOM kill is
reported as such.

Each test runs under every cgroup layout this host can offer:
  auto  whatever slotboxd detects (pure v2 on most hosts, hybrid here);
  v1    the v1 freezer plus the v1 cpu, memory, pids hierarchies;
  v2    a cgroup2 filesystem mounted by the test in a temp dir and named
        with --cgroup, used alone.
A controller missing from a layout (on a hybrid host the v2 hierarchy has
none: cpu, memory and pids are bound to their v1 hierarchies, and a
controller can be attached to one hierarchy only) skips the assertions
that need it, with the daemon's own reason. Timings are asserted only
where said, with wide margins."""
import json
import os
import subprocess
import tempfile
import threading
import time

import pytest

from conftest import api

SLOTS = 2


def mountinfo():
    """(mount point, fstype, super options) of every cgroup mount."""
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            left, right = line.split(" - ", 1)
            fstype, _source, opts = right.split()[:3]
            if fstype in ("cgroup", "cgroup2"):
                out.append((left.split()[4], fstype, opts.split(",")))
    return out


def v1_mount(ctl):
    for point, fstype, opts in mountinfo():
        if fstype == "cgroup" and ctl in opts:
            return point
    return None


@pytest.fixture(params=["auto", "v1", "v2"])
def layout(request):
    """(name, extra daemon args, the v2 mount the daemon uses or None)."""
    name = request.param
    if name == "auto":
        v2 = next((p for p in ("/sys/fs/cgroup", "/sys/fs/cgroup/unified")
                   if any(m[0] == p and m[1] == "cgroup2" for m in mountinfo())), None)
        yield name, [], v2
    elif name == "v1":
        freezer = v1_mount("freezer")
        if not freezer:
            pytest.skip("no cgroup v1 freezer hierarchy is mounted on this host")
        yield name, ["--cgroup", freezer], None
    else:
        mnt = tempfile.mkdtemp(prefix="sbx-cg2-", dir="/tmp")
        r = subprocess.run(["mount", "-t", "cgroup2", "none", mnt], capture_output=True, text=True)
        if r.returncode != 0:
            os.rmdir(mnt)
            pytest.skip("cannot mount cgroup2: " + r.stderr.strip())
        try:
            yield name, ["--cgroup", mnt], mnt
        finally:
            subprocess.run(["umount", mnt], check=False)
            os.rmdir(mnt)


@pytest.fixture
def start(layout, make_daemon):
    """start(**profile keys) -> (daemon, client, cgroup health) under the
    layout; the daemon stops before the layout's mount goes."""
    name, args, _ = layout

    def factory(**keys):
        prof = {"slots_per_sandbox": SLOTS, "min_sandboxes": 1, "max_sandboxes": 1,
                "execution_timeout_s": 60}
        prof.update(keys)
        yaml = "profiles:\n  default:\n" + "".join(f"    {k}: {v}\n" for k, v in prof.items())
        d = make_daemon(yaml, args=args)
        c = d.client()
        cg = api(c, "GET", "/v1/health", status=200)["cgroup"]
        return d, c, cg

    return factory


def need(cg, layout, *ctls):
    for ctl in ctls:
        if ctl not in cg["controllers"]:
            pytest.skip(f"{ctl} is not limited in the {layout[0]} layout here: "
                        f"{cg['unavailable'].get(ctl)}")


def bash(client, slot, command, timeout_s=30, status=200):
    return api(client, "POST", f"/v1/slots/{slot}/exec",
               {"tool": "bash", "args": {"command": command}, "timeout_s": timeout_s}, status)


def two_slots(client):
    a = api(client, "POST", "/v1/slots", {}, 201)
    b = api(client, "POST", "/v1/slots", {}, 201)
    assert a["sandbox_id"] == b["sandbox_id"], "both slots must share one sandbox"
    return a["slot_id"], b["slot_id"]


def slot_groups(client, sid, layout):
    """Host paths of the groups a call of slot sid runs in, by hierarchy:
    {"v2": ..., "cpu": ..., "memory": ..., "pids": ...} as far as used,
    read from the host's /proc/PID/cgroup of a process the call started
    (it stays in the call's group; inside the slot, a cgroup namespace
    rooted at the slot's group hides the host paths)."""
    marker = "sbxcg-%d-%d" % (os.getpid(), time.monotonic_ns())
    r = bash(client, sid, "(exec -a %s sleep 60) > /dev/null 2>&1 &" % marker)
    assert r["success"], r
    pid = None
    for _ in range(200):
        out = subprocess.run(["ps", "-eo", "pid=,args="], capture_output=True,
                             text=True).stdout
        pid = next((int(l.split()[0]) for l in out.splitlines()
                    if l.split()[1:2] == [marker]), None)
        if pid:
            break
        time.sleep(0.01)
    assert pid, "the call's process is not on the host"
    with open("/proc/%d/cgroup" % pid) as f:
        out = f.read()
    os.kill(pid, 9)
    groups = {}
    for line in out.splitlines():
        _, ctls, path = line.split(":", 2)
        if ctls == "" and layout[2]:
            groups["v2"] = layout[2] + path
        for ctl in ctls.split(","):
            if ctl in ("cpu", "memory", "pids", "freezer") and "/slotbox/" in path:
                groups[ctl] = v1_mount(ctl) + path
    return groups


def limit_dir(groups, ctl):
    """The slot's group that limits ctl (the call's group's parent in v2)."""
    if ctl in groups:
        return groups[ctl], False
    return os.path.dirname(groups["v2"]), True


def slot_name(slot_id):
    return "s" + slot_id.split(".")[0].rsplit("_", 1)[1]


def v1_memory_flat(ctl, v2):
    """In a cgroup v1 memory hierarchy a sandbox without a sandbox-wide cap
    has no group: its slots' are "<sandbox id>.s<N>" beside the sandboxes'
    (src/sandbox/cgroup.c, flat_memory), each a memory cgroup less."""
    return ctl == "memory" and not v2


def read(path):
    with open(path) as f:
        return f.read().strip()


def host_procs(marker):
    out = subprocess.run(["ps", "-eo", "args", "--no-headers"], capture_output=True, text=True).stdout
    return [l for l in out.splitlines() if marker in l]


def test_layout_health_placement_kill_and_cleanup(layout, start):
    d, c, cg = start()
    expected = {"v1": ["v1"], "v2": ["v2"]}.get(layout[0], ["v2", "hybrid", "v1"])
    assert cg["version"] in expected
    assert cg["kill"] in ("v1", "v2")
    assert sorted(cg["controllers"] + list(cg["unavailable"])) == ["cpu", "memory", "pids"]
    assert all(cg["unavailable"].values()), "every missing controller needs a reason"
    assert "event=cgroups version=" + cg["version"] in d.read_log()
    sa, _ = two_slots(c)
    groups = slot_groups(c, sa, layout)
    # the call runs in its own group below its slot's in the kill hierarchy,
    # and in the slot's group in every limiting hierarchy
    kill = groups["freezer"] if cg["kill"] == "v1" else groups["v2"]
    assert os.path.basename(kill).startswith("c")
    assert os.path.basename(os.path.dirname(kill)) == "s" + sa.split(".")[0].rsplit("_", 1)[1]
    sandbox = os.path.basename(os.path.dirname(os.path.dirname(kill)))
    for ctl in cg["controllers"]:
        path, v2 = limit_dir(groups, ctl)
        slot = os.path.basename(os.path.dirname(kill))
        if v1_memory_flat(ctl, v2):
            assert os.path.basename(path) == sandbox + "." + slot
        else:
            assert os.path.basename(path) == slot
    # a timeout kills the call's whole tree, setsid and double forks too
    r = bash(c, sa, "setsid sleep 100.25 & (sleep 100.25 &); sleep 100.25", timeout_s=1)
    assert r["metadata"]["timed_out"] is True
    deadline = time.monotonic() + 3
    while host_procs("sleep 100.25") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert host_procs("sleep 100.25") == []
    # stopping the daemon removes its groups in every hierarchy
    roots = {p.split("/slotbox/")[0] + "/slotbox/" + p.split("/slotbox/")[1].split("/")[0]
             for p in groups.values()}
    assert all(os.path.isdir(r) for r in roots)
    assert d.stop() == 0
    assert [r for r in roots if os.path.exists(r)] == []


def test_limit_files_per_slot_and_sandbox(layout, start):
    d, c, cg = start(cpu=0.5, memory_mb=256, pids_max=64)
    if not cg["controllers"]:
        need(cg, layout, "cpu")
    sa, _ = two_slots(c)
    groups = slot_groups(c, sa, layout)
    for ctl in cg["controllers"]:
        slot, v2 = limit_dir(groups, ctl)
        sandbox = os.path.dirname(slot)
        if v1_memory_flat(ctl, v2):
            # beside the sandboxes': the sandbox has no memory group, the
            # daemon's limits nothing
            assert os.path.basename(slot).endswith("." + slot_name(sa))
            sid = os.path.basename(slot)[:-len(slot_name(sa)) - 1]
            assert not os.path.exists(os.path.join(sandbox, sid))
            assert int(read(slot + "/memory.limit_in_bytes")) == 256 << 20
            assert int(read(sandbox + "/memory.limit_in_bytes")) > 1 << 50
            continue
        for path, n in ((slot, 1), (sandbox, SLOTS)):
            if ctl == "cpu" and v2:
                assert read(path + "/cpu.max") == f"{50000 * n} 100000"
            elif ctl == "cpu":
                assert read(path + "/cpu.cfs_quota_us") == str(50000 * n)
                assert read(path + "/cpu.cfs_period_us") == "100000"
            elif ctl == "memory":
                assert int(read(path + ("/memory.max" if v2 else "/memory.limit_in_bytes"))) \
                    == n * 256 << 20
            else:
                assert read(path + "/pids.max") == str(64 * n)


def test_cpu_share(layout, start):
    d, c, cg = start(cpu=0.5)
    need(cg, layout, "cpu")
    sa, _ = two_slots(c)
    # A busy loop's CPU time over its wall time, from /proc (os.times).
    r = bash(c, sa, "python3 -c 'import os, time\n"
                    "t0, c0 = time.monotonic(), os.times()\n"
                    "while time.monotonic() - t0 < 2: pass\n"
                    "c1 = os.times()\n"
                    "print((c1.user + c1.system - c0.user - c0.system) / (time.monotonic() - t0))'")
    share = float(r["metadata"]["stdout"])
    assert 0 < share < 0.7, f"a busy loop got {share:.2f} of a core under cpu: 0.5"


def test_fork_bomb_stays_in_its_slot(layout, start):
    d, c, cg = start(pids_max=64)
    need(cg, layout, "pids")
    sa, sb = two_slots(c)
    bomb = {}
    t = threading.Thread(target=lambda: bomb.update(
        bash(d.client(), sa, ":(){ :|:& };:; exec sleep 60", timeout_s=4)))
    t.start()
    try:
        time.sleep(1)  # let it fill its slot
        for _ in range(3):
            t0 = time.monotonic()
            r = bash(c, sb, "echo ok")
            assert r["metadata"]["stdout"] == "ok\n", r
            assert time.monotonic() - t0 < 2, "a neighbour of a fork bomb took over 2 s to echo"
            assert api(c, "GET", "/v1/health", status=200)["ok"] is True
            time.sleep(0.3)
    finally:
        t.join(30)
    assert bomb["metadata"]["timed_out"] is True
    # the bomb died with its call: its slot works again once the leader
    # has reaped it
    deadline = time.monotonic() + 10
    while bash(c, sa, "echo ok")["metadata"]["stdout"] != "ok\n":
        assert time.monotonic() < deadline, "the bomb's slot did not recover"
        time.sleep(0.2)


@pytest.mark.parametrize("command", [
    "python3 -c 'b = [bytearray(64 << 20) for _ in range(160)]'",  # 10 GiB
    "head -c 10G /dev/zero | tail",
])
# cap: with a sandbox-wide cap above the slots' sum the slot's group is
# below the sandbox's in cgroup v1 too (cgroup.c, flat_memory)
@pytest.mark.parametrize("cap", [0, 600])
def test_oom_is_reported_and_contained(layout, start, command, cap):
    d, c, cg = start(memory_mb=256, **({"sandbox_memory_mb": cap} if cap else {}))
    need(cg, layout, "memory")
    sa, sb = two_slots(c)
    r = bash(c, sa, command, timeout_s=60)
    md = r["metadata"]
    assert r["success"] is False and md["error_class"] == "task", r
    assert md["oom_killed"] is True and md["timed_out"] is False
    assert "out of memory" in r["error"]
    assert md["returncode"] in (-9, 137)
    # the neighbour, the slot itself and the daemon live on
    assert bash(c, sb, "echo ok")["metadata"]["stdout"] == "ok\n"
    r = bash(c, sa, "echo ok")
    assert r["metadata"]["stdout"] == "ok\n" and r["metadata"]["oom_killed"] is False
    assert api(c, "GET", "/v1/health", status=200)["ok"] is True


def memory_root(layout, sandbox_id, ctl="memory"):
    """The daemon's group in the hierarchy that limits ctl (the v1
    hierarchy where there is one, else the v2) and whether it is v2: found
    by the sandbox's group in the kill hierarchy, which it always has."""
    kill = layout[2] or v1_mount("freezer")
    insts = [i for i in os.listdir(os.path.join(kill, "slotbox"))
             if os.path.isdir(os.path.join(kill, "slotbox", i, sandbox_id))]
    assert len(insts) == 1, insts
    root = v1_mount(ctl) if layout[0] != "v2" and v1_mount(ctl) else layout[2]
    return os.path.join(root, "slotbox", insts[0]), root == layout[2]


@pytest.mark.parametrize("cap", [False, True])
def test_a_slot_gets_its_memory_group_at_its_first_call(layout, start, cap):
    """A memory cgroup costs the host's kernel the most of any group (a
    counter per file system on the host: issue 22), and an idle slot needs
    no limit of its own: a slot's memory group comes with its first call
    (src/sandbox/slot_limits.c), in cgroup v1 for that slot alone, in v2 for
    the sandbox's slots at once; each call then runs under its slot's limit.
    In v1 the sandbox has no memory group unless sandbox_memory_mb caps it
    (cap): its slots' groups are "<sandbox id>.s<N>" beside the sandboxes'.
    In v2 the sandbox's group holds its slots' (one tree for all). A slot's
    cpu quota comes with its first call too (each quota written walks every
    cpu group on the host)."""
    keys = {"sandbox_memory_mb": 400} if cap else {}
    d, c, cg = start(memory_mb=256, cpu=0.5, **keys)
    need(cg, layout, "memory")
    a = api(c, "POST", "/v1/slots", {}, 201)
    b = api(c, "POST", "/v1/slots", {}, 201)
    sid = a["sandbox_id"]
    root, v2 = memory_root(layout, sid)
    nested = v2 or cap
    sandbox = os.path.join(root, sid)
    f = "/memory.max" if v2 else "/memory.limit_in_bytes"

    def group(s):
        if nested:
            return os.path.join(sandbox, slot_name(s["slot_id"]))
        return os.path.join(root, sid + "." + slot_name(s["slot_id"]))

    def slot_limited(s):
        path = group(s)
        return os.path.exists(path + f) and int(read(path + f)) == 256 << 20

    if nested:
        assert int(read(sandbox + f)) == (400 << 20 if cap else SLOTS * 256 << 20)
    else:
        assert not os.path.exists(sandbox)
    assert not slot_limited(a) and not slot_limited(b)
    if v2:
        assert "memory" not in read(sandbox + "/cgroup.subtree_control").split()
    # cpu too: the sandbox's quota now, each slot's at its first call
    cpu_root, cpu_v2 = memory_root(layout, sid, "cpu")
    quota = (lambda p: read(p + "/cpu.max").split()[0]) if cpu_v2 else \
        (lambda p: read(p + "/cpu.cfs_quota_us"))
    cpu_of = lambda s: os.path.join(cpu_root, sid, slot_name(s["slot_id"]))
    has_cpu = "cpu" in cg["controllers"]
    if has_cpu:
        assert quota(os.path.join(cpu_root, sid)) == str(50000 * SLOTS)
        assert not os.path.exists(cpu_of(a)) or quota(cpu_of(a)) in ("max", "-1")
    groups = slot_groups(c, a["slot_id"], layout)
    assert limit_dir(groups, "memory")[0] == group(a)
    assert slot_limited(a)
    if has_cpu:
        assert limit_dir(groups, "cpu")[0] == cpu_of(a)
        assert quota(cpu_of(a)) == "50000"
    # v1: the other slot still has none; v2: every slot has its limit
    assert slot_limited(b) == v2
    # v1 beside the sandboxes': the next slot's group is made by a worker
    # thread once a's call has gone out, empty and unlimited, and b's first
    # call takes it
    stock = stock_groups(root) if nested else stock_made(root, [])
    assert len(stock) == (0 if nested else 1), stock
    for g in stock:
        assert read(os.path.join(root, g, "tasks")) == ""
        assert int(read(os.path.join(root, g, "memory.limit_in_bytes"))) > 1 << 50
    groups = slot_groups(c, b["slot_id"], layout)
    assert limit_dir(groups, "memory")[0] == group(b)
    assert slot_limited(b)
    if not nested:
        again = stock_made(root, stock)
        assert len(again) == 1 and again != stock, (stock, again)
    # the groups go with their sandbox, and the one made ahead with the
    # daemon
    assert d.stop() == 0
    assert not os.path.exists(group(a)) and not os.path.exists(group(b))
    assert not os.path.exists(root)


def stock_groups(root):
    """The groups made ahead for the next slots' first calls (cgroup v1,
    slots' memory groups beside the sandboxes': src/sandbox/cg_stock.c)."""
    return sorted(g for g in os.listdir(root) if g.startswith("stock."))


def stock_made(root, before, timeout_s=5.0):
    """The made-ahead groups once one other than those in before is there:
    the worker makes it while the call that asked for it runs, so it may
    come a moment after the call's answer."""
    deadline = time.monotonic() + timeout_s
    while True:
        now = stock_groups(root)
        if (now and now != before) or time.monotonic() > deadline:
            return now
        time.sleep(0.01)


def test_a_file_tool_is_charged_to_its_slot(layout, start):
    """A file tool is done by the slot's leader, and the files it writes
    are the slot's: before a slot's first call it makes the slot's memory
    group too, so what it writes counts against the slot's limit (in v1 the
    sandbox has no memory group to bound it otherwise)."""
    d, c, cg = start(memory_mb=256)
    need(cg, layout, "memory")
    a = api(c, "POST", "/v1/slots", {}, 201)
    root, v2 = memory_root(layout, a["sandbox_id"])
    name = a["sandbox_id"] + "." + slot_name(a["slot_id"])
    group = os.path.join(root, a["sandbox_id"], slot_name(a["slot_id"])) if v2 \
        else os.path.join(root, name)
    assert not os.path.exists(group + ("/memory.max" if v2 else "/memory.limit_in_bytes"))
    r = api(c, "POST", f"/v1/slots/{a['slot_id']}/exec",
            {"tool": "write_file", "args": {"path": "big.txt", "content": "x" * (6 << 20)}}, 200)
    assert r["success"], r
    limit = read(group + ("/memory.max" if v2 else "/memory.limit_in_bytes"))
    assert int(limit) == 256 << 20
    used = int(read(group + ("/memory.current" if v2 else "/memory.usage_in_bytes")))
    assert used >= 6 << 20, f"the file's 6 MiB are not charged to the slot ({used} bytes)"


@pytest.mark.parametrize("userns", [False, True])
def test_sandbox_memory_cap_without_slot_groups(layout, start, userns):
    """memory_mb: 0 sets no per-slot memory limit, so no slot has a memory
    cgroup of its own (each costs the host kernel memory that grows with
    the number of mounts: issue 22); sandbox_memory_mb still caps the
    sandbox as a whole, and an allocation past it is killed there. With
    userns the sandbox's root places its leaders in the sandbox's group."""
    keys = {"userns": "true"} if userns else {}
    d, c, cg = start(memory_mb=0, sandbox_memory_mb=256, **keys)
    need(cg, layout, "memory")
    sa, sb = two_slots(c)
    groups = slot_groups(c, sa, layout)
    path, v2 = limit_dir(groups, "memory")
    if v2:
        # the slot's group exists (it kills) but has no memory controller
        assert not os.path.exists(path + "/memory.max")
        sandbox = os.path.dirname(path)
        assert int(read(sandbox + "/memory.max")) == 256 << 20
        assert "memory" not in read(sandbox + "/cgroup.subtree_control").split()
    else:
        # the slot's processes are in the sandbox's group: no s<n> below it
        assert not os.path.basename(path).startswith("s"), path
        assert int(read(path + "/memory.limit_in_bytes")) == 256 << 20
        assert [e for e in os.listdir(path) if os.path.isdir(os.path.join(path, e))] == []
    # the other controllers keep their per-slot groups
    for ctl in cg["controllers"]:
        if ctl != "memory" and ctl in groups:
            assert os.path.basename(groups[ctl]).startswith("s"), groups
    r = bash(c, sa, "python3 -c 'b = [bytearray(64 << 20) for _ in range(160)]'", timeout_s=60)
    assert r["success"] is False and r["metadata"]["returncode"] in (-9, 137), r
    assert bash(c, sb, "echo ok")["metadata"]["stdout"] == "ok\n"
    assert bash(c, sa, "echo ok")["metadata"]["stdout"] == "ok\n"
    assert api(c, "GET", "/v1/health", status=200)["ok"] is True


def test_pids_limit(layout, start):
    d, c, cg = start(pids_max=16)
    need(cg, layout, "pids")
    sa, sb = two_slots(c)
    # Fork sleepers until the kernel says no; print how many and why.
    r = bash(c, sa, "python3 -c 'import os, time\n"
                    "n = 0\n"
                    "try:\n"
                    "    while n < 100:\n"
                    "        if os.fork() == 0:\n"
                    "            time.sleep(60); os._exit(0)\n"
                    "        n += 1\n"
                    "except OSError as e:\n"
                    "    print(n, e.errno, flush=True)\n"
                    "os.killpg(0, 9)'")
    n, errno_ = (int(x) for x in r["metadata"]["stdout"].split())
    # the leader and python count too: fewer than 16 children fit
    assert 8 <= n < 16, r
    assert errno_ == 11  # EAGAIN
    assert bash(c, sb, "echo ok")["metadata"]["stdout"] == "ok\n"
    assert bash(c, sa, "echo ok")["metadata"]["stdout"] == "ok\n"


def test_cgroups_off(make_daemon):
    d = make_daemon(None, args=["--cgroup", "none"])
    c = d.client()
    cg = api(c, "GET", "/v1/health", status=200)["cgroup"]
    assert cg["version"] == "none" and cg["kill"] == "none" and cg["controllers"] == []
    assert set(cg["unavailable"]) == {"cpu", "memory", "pids"}
    assert "disabled" in cg["unavailable"]["memory"]
    sid = api(c, "POST", "/v1/slots", {}, 201)["slot_id"]
    r = bash(c, sid, "grep -c slotbox /proc/self/cgroup")
    assert r["metadata"]["stdout"] == "0\n" and r["metadata"]["oom_killed"] is False
