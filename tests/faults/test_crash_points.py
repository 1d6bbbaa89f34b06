# SPDX-License-Identifier: Apache-2.0
"""Crash points the nemesis hits only by luck, made deterministic.

A fork or a snapshot freezes the source slot's cgroup while it copies the
workspace (src/sandbox/cg_freeze.c). A daemon killed inside that window
leaves the slot frozen: its leader and every process in it. Found by the
nemesis (a read that hung for its client's 30 s after a daemon kill);
here the window is recreated by freezing the slot's group by hand."""
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from faultlib import Harness, call  # noqa: E402

POOL = """
profiles:
  default:
    slots_per_sandbox: 2
    min_sandboxes: 1
    max_sandboxes: 1
    execution_timeout_s: 10
"""


def kill_group(log, sandbox_id, slot_index):
    """The slot's group in the kill hierarchy and that hierarchy's mode."""
    m = re.findall(r"event=cgroups .*", log)[-1]
    mode, path = re.search(r"kill=(v[12]):(\S+)", m).groups()
    return os.path.join(path, sandbox_id, f"s{slot_index}"), mode


def freeze(group, mode):
    if mode == "v2":
        with open(os.path.join(group, "cgroup.freeze"), "w") as f:
            f.write("1")
    else:
        with open(os.path.join(group, "freezer.state"), "w") as f:
            f.write("FROZEN")


def test_daemon_killed_while_a_slot_is_frozen_for_a_copy():
    h = Harness(POOL).start()
    try:
        cl = h.client(timeout=30)
        st, b = call(cl, "POST", "/v1/slots", {"timeout_s": 20})
        assert st == 201, b
        slot, sandbox = b["slot_id"], b["sandbox_id"]
        st, b = call(cl, "POST", f"/v1/slots/{slot}/exec",
                     {"tool": "bash", "args": {"command": "echo kept > mark"}})
        assert st == 200 and b["success"], b
        index = int(slot.split("_slot_")[1].split(".")[0])
        group, mode = kill_group(h.log(), sandbox, index)
        freeze(group, mode)  # the copy's freeze ...
        h.kill9()            # ... and the daemon dies before the thaw
        h.restart()
        cl = h.client(timeout=30)
        t0 = time.monotonic()
        st, b = call(cl, "POST", f"/v1/slots/{slot}/exec",
                     {"tool": "bash", "timeout_s": 8,
                      "args": {"command": "cat mark"}})
        assert st == 200 and b["success"] and b["metadata"]["stdout"] == "kept\n", \
            (st, b, time.monotonic() - t0)
        st, b = call(cl, "GET", f"/v1/slots/{slot}/file?path=mark")
        assert st == 200 and b["content"] == "kept\n", (st, b)
        assert h.stop() == 0
    finally:
        h.cleanup()
