# SPDX-License-Identifier: Apache-2.0
"""A release with reset (the default) recycles the slot's leader in place:
the leader ends the lease's processes, init makes the next workspace
generation and a helper builds its root in a new mount namespace, which
the leader enters (issue 22). No leader restart, yet nothing of the
previous lease reaches the next one: workspace, /tmp, /dev/shm, the
root's upper layer, IPC objects, the network namespace, processes. A lease
that touched nothing has nothing to reset. Snapshots and forks read the
new generation."""
import os

import pytest

from conftest import api
from test_core import acquire as acquire_body
from test_files import get, put
from test_recycle import leader_started
from test_redteam import IPC, NOTHING, PROBE, py, start_server
from test_spares import ONE_SLOT
from test_userns import with_userns

TWO_SLOTS = """
profiles:
  default:
    slots_per_sandbox: 2
    min_sandboxes: 1
    max_sandboxes: 1
"""


def acquire(c):
    return acquire_body(c, timeout_s=20)["slot_id"]


def bash(c, sid, cmd):
    r = api(c, "POST", f"/v1/slots/{sid}/exec",
            {"tool": "bash", "args": {"command": cmd}}, 200)
    assert r["success"], r
    return r["metadata"]["stdout"]


# What a lease leaves behind, in every place a reset must empty.
LITTER = ("echo ws > ws.txt; mkdir -p d/e; echo tmp > /tmp/t.txt; "
          "echo shm > /dev/shm/s.txt; echo home > \"$HOME\"/h.txt 2>/dev/null; "
          "(setsid sleep 1000 &); sleep 1000 & echo ok")
LOOK = ("ls -A; ls -A /tmp /dev/shm; cat \"$HOME\"/h.txt 2>/dev/null; "
        "ps -eo comm= | grep -c sleep || true")


def netns(c, sid):
    return bash(c, sid, "readlink /proc/self/ns/net").strip()


@pytest.mark.parametrize("userns", [False, True])
def test_reset_keeps_the_leader_and_leaves_nothing_behind(make_daemon, userns):
    d = make_daemon(with_userns(ONE_SLOT) if userns else ONE_SLOT)
    c = d.client()
    sid = acquire(c)
    first = leader_started(c, sid)
    empty = bash(c, sid, LOOK)
    for lease in range(4):
        assert bash(c, sid, LITTER) == "ok\n"
        assert start_server(c, sid, "L%d" % lease)["success"]
        assert all(x >= 0 for x in py(c, sid, IPC, "make"))
        code, _ = put(c, sid, "tool.txt", b"by the file tool\n")
        assert code == 200
        ns = netns(c, sid)
        api(c, "DELETE", f"/v1/slots/{sid}", status=204)
        sid = acquire(c)
        # the same leader: recycled in place, not restarted
        assert leader_started(c, sid) == first
        assert bash(c, sid, LOOK) == empty, lease
        assert py(c, sid, IPC, "look") == NOTHING
        assert py(c, sid, PROBE)["tcp"] == "error:ConnectionRefusedError"
        assert netns(c, sid) != ns
        # the new generation works: calls, file tools, loopback
        assert bash(c, sid, "echo hi; id -u") .startswith("hi\n")
        code, _ = put(c, sid, "g.txt", b"again\n")
        assert code == 200 and get(c, sid, "g.txt")[1]["content"] == "again\n"
        assert bash(c, sid, "rm g.txt; rm -f /tmp/up; echo gone") == "gone\n"
    assert d.stop() == 0


def test_reset_root_is_what_a_new_leader_builds(make_daemon):
    """The regenerated root has the same mounts as the first one (no host
    path in them) and the masked host paths stay absent."""
    d = make_daemon(ONE_SLOT)
    c = d.client()
    sid = acquire(c)
    mounts = "awk '{print $5, $9}' /proc/self/mountinfo | sort"
    before = bash(c, sid, mounts)
    state = d.state_dir
    bash(c, sid, "true")
    api(c, "DELETE", f"/v1/slots/{sid}", status=204)
    sid = acquire(c)
    after = bash(c, sid, mounts)
    assert after == before
    info = bash(c, sid, "cat /proc/self/mountinfo")
    assert "/s0/g" not in info and "scratch" not in info, info
    assert bash(c, sid, f"test -e {state} && echo seen || echo absent") \
            == "absent\n"


def test_untouched_lease_reset_keeps_the_generation(make_daemon):
    """A lease that ran nothing has nothing to reset: the slot is offered
    again at once, and the next lease still starts empty."""
    d = make_daemon(ONE_SLOT)
    c = d.client()
    sid = acquire(c)
    bash(c, sid, "echo x > f.txt")
    api(c, "DELETE", f"/v1/slots/{sid}", status=204)
    for _ in range(5):
        sid = acquire(c)
        api(c, "DELETE", f"/v1/slots/{sid}", status=204)
    sid = acquire(c)
    assert bash(c, sid, "ls -A; echo end") == "end\n"
    assert d.stop() == 0


def test_reset_during_a_call_still_restarts_clean(make_daemon):
    """A call in flight: the release restarts the leader (as before), and
    the next lease is clean."""
    import threading
    import time
    d = make_daemon(ONE_SLOT)
    c = d.client()
    sid = acquire(c)
    first = leader_started(c, sid)
    bash(c, sid, "echo x > f.txt")

    def long_call():
        d.client().request("POST", f"/v1/slots/{sid}/exec",
                           {"tool": "bash", "args": {"command": "sleep 30"}})

    t = threading.Thread(target=long_call)
    t.start()
    time.sleep(0.5)
    api(c, "DELETE", f"/v1/slots/{sid}", status=204)
    t.join(timeout=20)
    assert not t.is_alive()
    sid = acquire(c)
    assert leader_started(c, sid) != first
    assert bash(c, sid, "ls -A; ps -eo comm= | grep -c sleep || true") == "0\n"


@pytest.mark.parametrize("op", ["snapshot", "fork"])
def test_snapshot_and_fork_read_the_new_generation(make_daemon, op):
    d = make_daemon(TWO_SLOTS)
    c = d.client()
    sid = acquire(c)
    bash(c, sid, "echo old > old.txt")
    api(c, "DELETE", f"/v1/slots/{sid}", status=204)
    sid = acquire(c)
    while sid.split(".")[0].endswith("_1"):  # want the slot just reset
        other = sid
        sid = acquire(c)
        api(c, "DELETE", f"/v1/slots/{other}", status=204)
    assert bash(c, sid, "ls -A; echo new > new.txt; echo ok") == "ok\n"
    if op == "fork":
        r = api(c, "POST", f"/v1/slots/{sid}/fork", {"count": 1}, 201)
        kid = r["slots"][0]["slot_id"]
    else:
        api(c, "POST", f"/v1/slots/{sid}/snapshot", {"name": "after-reset"},
            201)
        kid = api(c, "POST", "/v1/slots", {"snapshot": "after-reset",
                                            "timeout_s": 20}, 201)["slot_id"]
    assert bash(c, kid, "ls -A; cat new.txt") == "new.txt\nnew\n"


def init_pid(sandbox_id):
    """The pid of the sandbox's slotbox-init (argv: slotbox-init --id ID)."""
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            argv = open(f"/proc/{p}/cmdline", "rb").read().split(b"\0")
        except OSError:
            continue
        if b"slotbox-init" in argv[0] and sandbox_id.encode() in argv:
            return int(p)
    raise AssertionError("no init for " + sandbox_id)


def test_failed_reset_restarts_the_slot_on_a_fresh_generation(make_daemon):
    """The next generation cannot be made (its name is taken by a file,
    put there from the host): the leader gives up before it offers the
    slot, the daemon restarts the slot on a fresh generation, and the next
    lease gets a clean slot, never the dirty one."""
    d = make_daemon(ONE_SLOT)
    c = d.client()
    sid = acquire(c)
    first = leader_started(c, sid)
    bash(c, sid, "echo x > f.txt; echo t > /tmp/t.txt")
    sb_id = sid.split("_slot_")[0]
    base = f"/proc/{init_pid(sb_id)}/root{d.state_dir}/sandboxes/{sb_id}/s0"
    gens = sorted(int(n[1:]) for n in os.listdir(base) if n.startswith("g"))
    with open(f"{base}/g{gens[-1] + 1}", "w"):
        pass
    api(c, "DELETE", f"/v1/slots/{sid}", status=204)
    sid = acquire(c)
    assert leader_started(c, sid) != first
    assert bash(c, sid, "ls -A; ls -A /tmp; echo end") == "end\n"
    # and the slot goes on resetting in place
    second = leader_started(c, sid)
    bash(c, sid, "echo y > g.txt")
    api(c, "DELETE", f"/v1/slots/{sid}", status=204)
    sid = acquire(c)
    assert leader_started(c, sid) == second
    assert bash(c, sid, "ls -A; echo end") == "end\n"
    assert d.stop() == 0
