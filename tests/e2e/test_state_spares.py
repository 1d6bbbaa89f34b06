# SPDX-License-Identifier: Apache-2.0
"""The state dir recycles its inodes: a freed sandbox's journal records
and scratch dir are kept as spares (".spare-<n>") and a new sandbox's are
those renamed, not created; spares are never taken for records or
sandboxes, also by a daemon restarted after kill -9, and a stop leaves
none."""
import os
import time

from conftest import api

POOL = """
profiles:
  default:
    slots_per_sandbox: 1
    min_sandboxes: 0
    max_sandboxes: 2
    idle_timeout: 1
"""


def inodes(d, sub, pred):
    top = os.path.join(d.state_dir, sub)
    return {n: os.lstat(os.path.join(top, n)).st_ino for n in os.listdir(top) if pred(n)}


def spares(d, sub):
    return inodes(d, sub, lambda n: n.startswith(".spare-"))


def sandbox_of(slot_id):
    return slot_id.rsplit("_slot_", 1)[0]


def mine(name, sb):
    """Is name a journal record of sandbox sb (its own, or a lease's)?"""
    return name == "sb-" + sb or name.startswith("lease-" + sb + "_slot_")


def acquire(c):
    return api(c, "POST", "/v1/slots", {"trajectory_id": "t", "timeout_s": 30}, 201)["slot_id"]


def wait_freed(d, sb):
    deadline = time.monotonic() + 20
    while os.path.exists(os.path.join(d.state_dir, "sandboxes", sb)):
        assert time.monotonic() < deadline, "sandbox %s not stopped" % sb
        time.sleep(0.1)


def test_a_new_sandbox_takes_a_freed_ones_record_and_scratch_dir(make_daemon):
    d = make_daemon(POOL)
    c = d.client()
    slot = acquire(c)
    sb = sandbox_of(slot)
    record = inodes(d, "journal", lambda n: mine(n, sb))
    scratch = inodes(d, "sandboxes", lambda n: n == sb)
    assert len(record) == 2 and len(scratch) == 1, (record, scratch)
    api(c, "DELETE", f"/v1/slots/{slot}?reset=false", status=204)
    wait_freed(d, sb)
    # kept as blank spares, which are no records
    assert set(spares(d, "journal").values()) == set(record.values())
    assert set(spares(d, "sandboxes").values()) == set(scratch.values())
    for n in spares(d, "journal"):
        with open(os.path.join(d.state_dir, "journal", n)) as f:
            assert f.read().strip() == ""
    assert os.listdir(os.path.join(d.state_dir, "sandboxes", list(spares(d, "sandboxes"))[0])) == []

    slot2 = acquire(c)
    sb2 = sandbox_of(slot2)
    assert sb2 != sb
    new_record = inodes(d, "journal", lambda n: mine(n, sb2))
    assert set(new_record.values()) == set(record.values())
    assert inodes(d, "sandboxes", lambda n: n == sb2)[sb2] == scratch[sb]
    assert spares(d, "journal") == {} and spares(d, "sandboxes") == {}
    assert api(c, "POST", f"/v1/slots/{slot2}/exec",
               {"tool": "bash", "args": {"command": "echo ok"}, "timeout_s": 30},
               200)["metadata"]["stdout"] == "ok\n"
    api(c, "DELETE", f"/v1/slots/{slot2}?reset=false", status=204)
    wait_freed(d, sb2)
    assert len(spares(d, "journal")) == 2 and len(spares(d, "sandboxes")) == 1
    assert d.stop() == 0
    assert spares(d, "journal") == {} and spares(d, "sandboxes") == {}


def test_spares_survive_kill9_and_are_no_sandboxes(make_daemon):
    d = make_daemon(POOL)
    c = d.client()
    slot = acquire(c)
    sb = sandbox_of(slot)
    api(c, "DELETE", f"/v1/slots/{slot}?reset=false", status=204)
    wait_freed(d, sb)
    kept = spares(d, "sandboxes")
    journal_kept = spares(d, "journal")
    assert kept and journal_kept
    held = acquire(c)  # a sandbox to adopt (it takes the spares)
    slot = acquire(c)  # one more, which will be freed after the restart
    api(c, "DELETE", f"/v1/slots/{slot}?reset=false", status=204)
    d.proc.kill()
    d.proc.wait()
    d.start()
    c = d.client()
    log = d.read_log()
    assert ".spare-" not in log, log
    assert api(c, "POST", f"/v1/slots/{held}/exec",
               {"tool": "bash", "args": {"command": "echo adopted"}, "timeout_s": 30},
               200)["metadata"]["stdout"] == "adopted\n"
    wait_freed(d, sandbox_of(slot))
    left = spares(d, "sandboxes")
    assert left, "the freed sandbox's scratch dir is a spare after the restart"
    slot3 = acquire(c)
    assert inodes(d, "sandboxes", lambda n: n == sandbox_of(slot3))[sandbox_of(slot3)] \
        in set(left.values())
    assert d.stop() == 0
    assert spares(d, "journal") == {} and spares(d, "sandboxes") == {}
