# SPDX-License-Identifier: Apache-2.0
"""Exhaustion: the state dir's filesystem full, the daemon at its fd limit,
memory pressure on the daemon's cgroup. Each degrades to clear API errors
(507 insufficient_storage, 503 with a reason), keeps serving what it can,
recovers by itself when the resource returns, and never loses a lease or
corrupts the journal (checked by a kill -9 and a restart)."""
import os
import socket
import subprocess
import sys
import time

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from faultlib import ROOT, Harness, call, journal, proc_stats  # noqa: E402

sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
import imagekit  # noqa: E402

POOL = """
profiles:
  default:
    slots_per_sandbox: 4
    min_sandboxes: 1
    max_sandboxes: 2
    execution_timeout_s: 30
"""


@pytest.fixture
def harness():
    made = []

    def make(config=POOL, **kw):
        h = Harness(config, **kw)
        made.append(h)
        return h

    yield make
    for h in made:
        rc = h.stop()
        h.cleanup()
        assert rc in (0, None), h.log()[-3000:]


def small_state_dir(h, size="8m"):
    os.makedirs(h.state_dir)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700",
                    "slotbox-faults", h.state_dir], check=True)


def fill(path):
    """Fill the filesystem holding path; returns the filler's name."""
    filler = os.path.join(path, "filler")
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        for chunk in (1 << 20, 65536, 4096, 512, 1):
            try:
                while True:
                    os.write(fd, b"\0" * chunk)
            except OSError:
                pass
    finally:
        os.close(fd)
    return filler


def exec_ok(cl, slot, cmd):
    st, b = call(cl, "POST", f"/v1/slots/{slot}/exec",
                 {"tool": "bash", "args": {"command": cmd}})
    assert st == 200 and b["success"], (st, b)
    return b["metadata"]["stdout"]


def check_journal(h):
    """Every record parses (blank = an ended lease)."""
    for name, rec in journal(h.state_dir).items():
        assert rec is None or isinstance(rec, dict), (name, rec)


def restart_and_check(h, leases):
    """kill -9 and restart: every lease granted is still there, workspace
    intact."""
    h.kill9()
    check_journal(h)
    h.restart()
    cl = h.client()
    for slot, content in leases.items():
        st, b = call(cl, "GET", f"/v1/slots/{slot}")
        assert st == 200, (slot, st, b)
        if content is not None:
            assert exec_ok(cl, slot, "cat mark") == content, slot
    return cl


def test_state_dir_full(harness, tmp_path):
    h = harness()
    small_state_dir(h)
    h.start()
    cl = h.client()
    leases = {}
    for i in range(2):
        st, b = call(cl, "POST", "/v1/slots", {"timeout_s": 20})
        assert st == 201, b
        exec_ok(cl, b["slot_id"], f"echo {i} > mark")
        leases[b["slot_id"]] = f"{i}\n"
    filler = fill(h.state_dir)

    # acquire: the lease cannot be recorded -> 507, nothing granted
    granted = {}
    for _ in range(4):
        st, b = call(cl, "POST", "/v1/slots", {"timeout_s": 5})
        if st == 201:
            granted[b["slot_id"]] = None
        else:
            assert st == 507 and b["error"]["code"] == "insufficient_storage", (st, b)
    # snapshot: no room -> 507
    slot0 = next(iter(leases))
    st, b = call(cl, "POST", f"/v1/slots/{slot0}/snapshot", {"name": "full"})
    assert st == 507 and b["error"]["code"] == "insufficient_storage", (st, b)
    # image import: no room -> 507
    lay = str(tmp_path / "img")
    imagekit.oci_layout(lay, [imagekit.tar_of([("etc", "dir", None),
                                               ("etc/hello", "file", b"x" * 65536)])])
    st, b = call(cl, "POST", "/v1/images", {"name": "full", "path": lay})
    assert st == 507 and b["error"]["code"] == "insufficient_storage", (st, b)
    # a fork writes lease records too: 201 only for what could be
    # recorded (a slot's blanked record is rewritten in place), else 507
    st, b = call(cl, "POST", f"/v1/slots/{slot0}/fork", {"count": 1})
    print(f"state dir full: fork {st}")
    if st == 201:
        granted.update((s["slot_id"], None) for s in b["slots"])
    else:
        assert st == 507 and b["error"]["code"] == "insufficient_storage", (st, b)
    # a renew with a TTL rewrites its record in place: it fits
    st, b = call(cl, "POST", f"/v1/slots/{slot0}/renew", {"ttl_s": 600})
    assert st == 200 and b["ttl_s"] == 600, (st, b)
    # a release blanks its record in place: it needs no room, and a
    # restart does not bring the lease back
    gone = list(leases)[1]
    st, b = call(cl, "DELETE", f"/v1/slots/{gone}")
    assert st == 204, (st, b)
    del leases[gone]
    # what needs no room keeps working
    for slot, content in leases.items():
        assert exec_ok(cl, slot, "cat mark") == content
    st, _ = call(cl, "GET", "/v1/status")
    assert st == 200
    # every lease answered 201 survives a crash, even on a full disk
    leases.update(granted)
    cl = restart_and_check(h, leases)
    st, b = call(cl, "POST", f"/v1/slots/{gone}/exec",
                 {"tool": "bash", "args": {"command": "true"}})
    assert st == 409 and b["error"]["code"] == "slot_not_leased", (st, b)

    # room again: everything works without a restart
    os.unlink(filler)
    st, b = call(cl, "POST", "/v1/slots", {"timeout_s": 20})
    assert st == 201, (st, b)
    exec_ok(cl, b["slot_id"], "echo new > mark")
    leases[b["slot_id"]] = "new\n"
    st, b = call(cl, "POST", f"/v1/slots/{slot0}/snapshot", {"name": "later"})
    assert st in (200, 201), (st, b)
    st, b = call(cl, "POST", "/v1/images", {"name": "later", "path": lay})
    assert st in (200, 201), (st, b)
    restart_and_check(h, leases)


def test_fd_limit_under_1000_connections(harness):
    h = harness()
    h.d.prefix = ["prlimit", "--nofile=200:200", "--"]
    h.start()
    cl = h.client()
    st, b = call(cl, "POST", "/v1/slots", {"timeout_s": 20})
    assert st == 201, b
    slot = b["slot_id"]
    exec_ok(cl, slot, "echo kept > mark")
    st, b = call(cl, "POST", "/v1/slots", {"timeout_s": 20})
    assert st == 201, b
    rel = b["slot_id"]  # released during the flood
    keep = h.client(timeout=10)  # a connection made before the flood
    assert call(keep, "GET", "/v1/health")[0] == 200
    socks = []
    answers, acquires, granted = [], [], {}
    try:
        for _ in range(1000):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.setblocking(False)
            try:
                s.connect(h.socket)
            except (BlockingIOError, ConnectionRefusedError, OSError):
                pass
            socks.append(s)
        time.sleep(1)
        assert h.alive()
        _, fds, _ = proc_stats(h.d.proc.pid)
        assert fds <= 200
        # at its limit: a call on a healthy lease is answered, 200 or 503
        # saying why, never sandbox_lost; new connections may be closed
        for cl in [keep] * 3 + [h.client(timeout=5) for _ in range(3)]:
            try:
                st, b = call(cl, "POST", f"/v1/slots/{slot}/exec",
                             {"tool": "bash", "args": {"command": "cat mark"}})
            except OSError:
                continue
            answers.append(st)
            if st != 200:
                assert st == 503 and b["error"]["code"] == "unavailable", (st, b)
                assert "open files" in b["error"]["message"], b
            else:
                assert b["metadata"]["stdout"] == "kept\n", b
        assert answers, "no answer at all on a connection made before"
        # an acquire needs a descriptor for its journal record: 201 when
        # it got one, else 503 saying why (the lease is not granted),
        # never 500
        for cl in [keep] * 2 + [h.client(timeout=5) for _ in range(2)]:
            try:
                st, b = call(cl, "POST", "/v1/slots", {"timeout_s": 2})
            except OSError:
                continue
            acquires.append(st)
            if st == 201:
                granted[b["slot_id"]] = None
            elif st == 503 and b["error"]["code"] == "acquire_timeout":
                pass  # no slot free and no new sandbox (it needs fds too)
            else:
                assert st == 503 and b["error"]["code"] == "unavailable", (st, b)
                assert "open files" in b["error"]["message"], b
        assert acquires, "no acquire answered on a connection made before"
        # a release needs a descriptor to blank its record: 204 only
        # when it is recorded (a restart must not bring the lease back),
        # else 503 saying why and the lease stays
        st, b = call(keep, "DELETE", f"/v1/slots/{rel}")
        released = st == 204
        if not released:
            assert st == 503 and b["error"]["code"] == "unavailable", (st, b)
            assert "open files" in b["error"]["message"], b
    finally:
        for s in socks:
            s.close()
    print(f"fd limit: answers {answers}, acquires {acquires}, release {st}")
    # fds back: serves again by itself, the lease intact
    deadline = time.monotonic() + 10
    while True:
        try:
            out = exec_ok(h.client(timeout=5), slot, "cat mark")
            break
        except (OSError, AssertionError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    assert out == "kept\n"
    cl = h.client(timeout=5)
    if not released:
        st, b = call(cl, "DELETE", f"/v1/slots/{rel}")
        assert st == 204, (st, b)
    st, b = call(cl, "POST", "/v1/slots", {"timeout_s": 20})
    assert st == 201, (st, b)
    granted[b["slot_id"]] = None
    cl = restart_and_check(h, {slot: "kept\n"} | granted)
    # the release holds across the restart
    st, b = call(cl, "POST", f"/v1/slots/{rel}/exec",
                 {"tool": "bash", "args": {"command": "true"}})
    assert st == 409 and b["error"]["code"] == "slot_not_leased", (st, b)


def set_nofile(pid, soft):
    """The daemon's soft fd limit, changed from outside (prlimit --pid)."""
    with open(f"/proc/{pid}/limits") as f:
        hard = next(l.split()[4] for l in f if l.startswith("Max open files"))
    subprocess.run(["prlimit", "--pid", str(pid), f"--nofile={soft}:{hard}"],
                   check=True)


def test_fd_limit_reached_between_requests(harness):
    """Every descriptor in use (the soft limit lowered to the daemon's open
    fds) on a connection already open: a release or an acquire that cannot
    open its journal record answers 503 `unavailable` saying why, and
    changes nothing; a release answered 204 stays released across a
    restart; with fds back both work without a restart."""
    h = harness()
    h.start()
    cl = h.client()
    leases = {}
    for i in range(2):
        st, b = call(cl, "POST", "/v1/slots", {"timeout_s": 20})
        assert st == 201, b
        exec_ok(cl, b["slot_id"], f"echo {i} > mark")
        leases[b["slot_id"]] = f"{i}\n"
    held, rel = list(leases)
    assert call(cl, "GET", "/v1/health")[0] == 200
    pid = h.d.proc.pid
    used = {int(n) for n in os.listdir(f"/proc/{pid}/fd")}
    set_nofile(pid, min(set(range(len(used) + 1)) - used))  # the lowest free
    try:
        # two slots are free: the acquire fails on its record only
        st, b = call(cl, "POST", "/v1/slots", {"timeout_s": 2})
        assert st == 503 and b["error"]["code"] == "unavailable", (st, b)
        assert "open files" in b["error"]["message"], b
        st, b = call(cl, "DELETE", f"/v1/slots/{rel}")
        assert st == 503 and b["error"]["code"] == "unavailable", (st, b)
        assert "open files" in b["error"]["message"], b
        st, b = call(cl, "GET", f"/v1/slots/{rel}")
        assert st == 200 and b["slot_id"] == rel and b["state"] == "acquired", (st, b)
    finally:
        set_nofile(pid, 1024)
    assert exec_ok(cl, rel, "cat mark") == "1\n"
    st, b = call(cl, "DELETE", f"/v1/slots/{rel}")
    assert st == 204, (st, b)
    del leases[rel]
    st, b = call(cl, "POST", "/v1/slots", {"timeout_s": 20})
    assert st == 201, (st, b)
    leases[b["slot_id"]] = None
    cl = restart_and_check(h, leases)
    st, b = call(cl, "POST", f"/v1/slots/{rel}/exec",
                 {"tool": "bash", "args": {"command": "true"}})
    assert st == 409 and b["error"]["code"] == "slot_not_leased", (st, b)


def memory_group():
    """A memory cgroup of our own (v1 or v2): (dir, limit file)."""
    name = "slotbox-faults-%d" % os.getpid()
    if os.path.exists("/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        d = os.path.join("/sys/fs/cgroup/memory", name)
        limit = "memory.limit_in_bytes"
    elif "memory" in open("/sys/fs/cgroup/cgroup.controllers").read():
        d = os.path.join("/sys/fs/cgroup", name)
        limit = "memory.max"
    else:
        pytest.skip("no memory controller")
    os.makedirs(d, exist_ok=True)
    return d, limit


def test_memory_pressure_on_the_daemons_cgroup(harness):
    """The daemon in a cgroup of its own with 48 MiB of headroom, 300 calls
    printing 1 MiB each at once (300 MiB of output, twice that in answers).
    It keeps within its cgroup (outputs cut, marked truncated) instead of
    being OOM-killed; no lease is lost, the journal parses."""
    d, limit = memory_group()
    h = harness()
    h.d.prefix = ["sh", "-c", f'echo $$ > {d}/cgroup.procs && exec "$@"', "sh"]
    try:
        h.start()
        with open(f"/proc/{h.d.proc.pid}/maps") as f:
            if "libasan" in f.read():
                pytest.skip("ASan's quarantine of freed memory is not bounded by the budget")
        cl = h.client()
        leases = {}
        for i in range(4):
            st, b = call(cl, "POST", "/v1/slots", {"timeout_s": 20})
            assert st == 201, b
            exec_ok(cl, b["slot_id"], f"echo {i} > mark")
            leases[b["slot_id"]] = f"{i}\n"
        usage = "memory.usage_in_bytes" if limit.endswith("in_bytes") else "memory.current"
        with open(os.path.join(d, usage)) as f:
            used = int(f.read())
        with open(os.path.join(d, limit), "w") as f:
            f.write(str(used + (48 << 20)))
        time.sleep(1.5)  # the daemon re-reads its limit once a second
        import asyncio
        sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
        from test_exec_backpressure import _request

        async def burst():
            slots = list(leases)
            jobs = [_request(h.socket, "POST", f"/v1/slots/{slots[i % 4]}/exec",
                             {"tool": "bash", "timeout_s": 60,
                              "args": {"command": "yes x | head -c 1048576"}})
                    for i in range(300)]
            return await asyncio.gather(*jobs, return_exceptions=True)

        results = asyncio.run(burst())
        answered = [r for r in results if not isinstance(r, BaseException)]
        oom_killed = not h.alive()
        print(f"memory pressure: {len(answered)} of 300 answered, "
              f"{sum(1 for st, b in answered if st == 200 and b['success'])} with output, "
              f"daemon {'OOM-killed' if oom_killed else 'alive'}, "
              f"failcnt {open(os.path.join(d, 'memory.failcnt')).read().strip() if limit.endswith('in_bytes') else '-'}")
        # it degrades, it does not die: every call answered, its output
        # whole or cut and marked truncated
        assert not oom_killed and len(answered) == 300, results[:3]
        for st, b in answered:
            assert st == 200 and b["success"], (st, b)
            out = b["metadata"]["stdout"]
            assert out == ("x\n" * 524288)[:len(out)]
            assert len(out) == 1048576 or b["metadata"]["truncated"], len(out)
        with open(os.path.join(d, limit), "w") as f:
            f.write("-1" if limit.endswith("in_bytes") else "max")
        cl = h.client()
        for slot, content in leases.items():
            assert exec_ok(cl, slot, "cat mark") == content
        restart_and_check(h, leases)
    finally:
        h.stop()
        h.cleanup()
        subprocess.run(["rmdir", d], check=False)
