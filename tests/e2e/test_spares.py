# SPDX-License-Identifier: Apache-2.0
"""Calls run in spares: processes the slot's leader forks, puts into a new
call group and confines before the call comes (src/init/spare.h). What
that must not change: a call sees none of the leader's descriptors, runs as
the slot's uid in a call group of its own, and a slot whose processes kill
the waiting spare (it is one of theirs) keeps working."""
import re
import time

from conftest import api
from test_core import acquire, bash

ONE_SLOT = """
profiles:
  default:
    slots_per_sandbox: 1
    min_sandboxes: 1
    max_sandboxes: 1
"""


def own_cgroup(text):
    """The call's group in the hierarchy cgroup.kill works on: the v2 line
    when there is one, else the v1 freezer line."""
    lines = dict(line.split(":", 2)[::2] for line in text.splitlines() if line.count(":") >= 2)
    for key in ("", "freezer"):
        if key in lines and lines[key] not in ("", "/"):
            return lines[key]
    return None


def test_a_call_inherits_only_stdio(client):
    sid = acquire(client)["slot_id"]
    # the directory fd ls itself opens is the only other one
    out = bash(client, sid, "ls /proc/self/fd | sort -n | tr '\\n' ' '")["metadata"]["stdout"]
    fds = [int(x) for x in out.split()]
    assert fds[:3] == [0, 1, 2] and len(fds) <= 4, out
    api(client, "DELETE", f"/v1/slots/{sid}", status=204)


def test_every_call_gets_a_group_of_its_own(client):
    sid = acquire(client)["slot_id"]
    groups = set()
    for _ in range(3):
        r = bash(client, sid, "cat /proc/self/cgroup; id -u")
        assert r["success"], r
        lines = r["metadata"]["stdout"].strip().splitlines()
        assert int(lines[-1]) != 0
        groups.add(own_cgroup("\n".join(lines[:-1])))
    if None in groups:
        api(client, "DELETE", f"/v1/slots/{sid}", status=204)
        return  # no cgroup hierarchy to put calls in (process groups)
    assert len(groups) == 3, groups
    assert all(re.search(r"/c\d+$", g) for g in groups), groups
    api(client, "DELETE", f"/v1/slots/{sid}", status=204)


def test_killing_the_waiting_spare_from_inside_the_slot(make_daemon):
    d = make_daemon(ONE_SLOT)
    c = d.client()
    sid = acquire(c)["slot_id"]
    # The next call's spare is started once a call has ended; a process
    # this call leaves behind waits for it, then kill -9 -1 as the slot's
    # uid: every process of the slot's uid, the waiting spare included.
    r = bash(c, sid, "(sleep 0.5; ps -o comm= -u $(id -u) > seen; kill -9 -1) "
                     ">/dev/null 2>&1 & echo started")
    assert r["metadata"]["stdout"] == "started\n", r
    time.sleep(1.5)
    r = bash(c, sid, "cat seen")
    assert r["success"] and "slotbox-init" in r["metadata"]["stdout"], r  # the spare
    for i in range(5):
        r = bash(c, sid, f"echo again {i}")
        assert r["success"] and r["metadata"]["stdout"] == f"again {i}\n", r
    api(c, "DELETE", f"/v1/slots/{sid}?reset=false", status=204)
    sid = acquire(c, timeout_s=10)["slot_id"]
    assert bash(c, sid, "echo after release")["metadata"]["stdout"] == "after release\n"


def test_calls_after_releases_that_kill_the_slot(make_daemon):
    """A release kills everything in the slot; the calls of the next
    lease must still start (kernels that SIGKILL children cloned into a
    new group below a cgroup.kill'ed one: calltree.h)."""
    d = make_daemon(ONE_SLOT)
    c = d.client()
    for reset in ("false", "true", "false"):
        sid = acquire(c, timeout_s=10)["slot_id"]
        r = bash(c, sid, "sleep 60 & echo started")
        assert r["metadata"]["stdout"] == "started\n", r
        r = bash(c, sid, "echo second")
        assert r["success"] and r["metadata"]["stdout"] == "second\n", r
        api(c, "DELETE", f"/v1/slots/{sid}?reset={reset}", status=204)
    sid = acquire(c, timeout_s=10)["slot_id"]
    r = bash(c, sid, "pgrep -c sleep || true")
    assert r["metadata"]["stdout"].strip() == "0", r


def test_a_command_that_cannot_start_says_why(client):
    sid = acquire(client)["slot_id"]
    r = bash(client, sid, "pwd", args={"cwd": "no/such/dir"})
    assert not r["success"] and "No such file or directory" in r["error"], r
    assert bash(client, sid, "echo fine")["metadata"]["stdout"] == "fine\n"
    api(client, "DELETE", f"/v1/slots/{sid}", status=204)
