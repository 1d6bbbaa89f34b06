# SPDX-License-Identifier: Apache-2.0
"""A release that keeps the workspace (reset=false) recycles the slot: its
leader (PID 1 of the slot's pid namespace) kills every other process in
the slot and offers it again, instead of init starting a new leader. What
a release promises must hold either way: every process the lease started
is gone before the next lease, the workspace stays, calls work after."""
import threading
import time

from conftest import api
from test_core import acquire, bash
from test_files import get, put
from test_spares import ONE_SLOT


def leader_started(c, sid):
    """The start time of the slot's PID 1 (the leader), in clock ticks."""
    r = bash(c, sid, "cut -d' ' -f22 /proc/1/stat")
    assert r["success"], r
    return int(r["metadata"]["stdout"])


def test_keep_workspace_release_recycles_the_leader(make_daemon):
    d = make_daemon(ONE_SLOT)
    c = d.client()
    sid = acquire(c)["slot_id"]
    first = leader_started(c, sid)
    r = bash(c, sid, "echo kept > f.txt; (setsid sleep 1000 &); sleep 1000 & "
                     "echo started")
    assert r["metadata"]["stdout"] == "started\n", r
    api(c, "DELETE", f"/v1/slots/{sid}?reset=false", status=204)
    sid = acquire(c, timeout_s=10)["slot_id"]
    assert leader_started(c, sid) == first, "a new leader: the slot was restarted"
    r = bash(c, sid, "cat f.txt; ps -eo comm= | grep -c sleep || true")
    assert r["metadata"]["stdout"] == "kept\n0\n", r
    # the next call still finds a spare, and file tools work
    for i in range(3):
        assert bash(c, sid, f"echo {i}")["metadata"]["stdout"] == f"{i}\n"
    code, _ = put(c, sid, "g.txt", b"file tool\n")
    assert code == 200 and get(c, sid, "g.txt")[1]["content"] == "file tool\n"
    # a reset still gets a new leader and a clean workspace
    api(c, "DELETE", f"/v1/slots/{sid}", status=204)
    sid = acquire(c, timeout_s=10)["slot_id"]
    assert leader_started(c, sid) >= first
    r = bash(c, sid, "ls -A; ps -eo comm= | grep -c sleep || true")
    assert r["metadata"]["stdout"] == "0\n", r
    assert d.stop() == 0


def test_keep_workspace_release_during_a_call_restarts(make_daemon):
    """A call in flight: the release takes the restart path (the call ends
    with slot_not_leased), and the next lease works."""
    d = make_daemon(ONE_SLOT)
    c = d.client()
    sid = acquire(c)["slot_id"]
    first = leader_started(c, sid)
    out = {}

    def long_call():
        cl = d.client()
        out["r"] = cl.request("POST", f"/v1/slots/{sid}/exec",
                              {"tool": "bash", "args": {"command": "sleep 30"}})

    t = threading.Thread(target=long_call)
    t.start()
    time.sleep(0.5)
    api(c, "DELETE", f"/v1/slots/{sid}?reset=false", status=204)
    t.join(timeout=20)
    assert not t.is_alive(), "the call in flight was not ended by the release"
    sid = acquire(c, timeout_s=10)["slot_id"]
    assert leader_started(c, sid) != first, "the slot was not restarted"
    r = bash(c, sid, "ps -eo comm= | grep -c sleep || true")
    assert r["metadata"]["stdout"] == "0\n", r
    assert d.stop() == 0


def test_many_keep_workspace_releases(make_daemon):
    """Back to back, with a background process each time: every lease
    starts with none left and the same leader."""
    d = make_daemon(ONE_SLOT)
    c = d.client()
    sid = acquire(c)["slot_id"]
    first = leader_started(c, sid)
    for i in range(20):
        r = bash(c, sid, f"ps -eo comm= | grep -c sleep || true; sleep 100{i} &")
        assert r["metadata"]["stdout"] == "0\n", (i, r)
        api(c, "DELETE", f"/v1/slots/{sid}?reset=false", status=204)
        sid = acquire(c, timeout_s=10)["slot_id"]
    assert leader_started(c, sid) == first
    assert d.stop() == 0
