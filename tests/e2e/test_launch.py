# SPDX-License-Identifier: Apache-2.0
"""A sandbox start's slow half (its cgroups, init's clone through the
zygote) runs in the daemon's launcher thread (src/sandbox/launcher.c), not
on its loop, and so does the removal of a dead sandbox's groups. A start
that fails there is reported as one that failed at once was: the acquire
that waited names why, the failed sandbox leaves nothing behind, and the
pool starts again and recovers; a dead sandbox's groups go while the
daemon runs; a daemon stopped while sandboxes start ends every one of
them, or keeps them for the next daemon."""
import json
import os
import re
import signal

import pytest

from conftest import api, wait_for
from test_faults import assert_nothing_left, cgroup_dirs, procs_naming
from test_limits import mountinfo, v1_mount
from test_zygote import (TWO_SANDBOXES, init_of, lease, run_ok, zygote_metrics,
                         zygotes)

EIGHT_WARM = """
profiles:
  default:
    slots_per_sandbox: 2
    min_sandboxes: 8
    max_sandboxes: 8
"""


class PidsJail:
    """A pids cgroup with room for nothing new: a process moved into it
    cannot fork (EAGAIN) until open() lifts its limit. v1's pids
    hierarchy, or the unified one where pids is enabled for its
    children."""

    def __init__(self):
        root = v1_mount("pids")
        if root is None:
            v2 = next((m[0] for m in mountinfo() if m[1] == "cgroup2"), None)
            if v2 and "pids" in open(os.path.join(v2, "cgroup.subtree_control")).read().split():
                root = v2
        if root is None:
            pytest.skip("no pids cgroup controller to jail a process in")
        self.dir = os.path.join(root, f"sbx-test-jail-{os.getpid()}")
        os.mkdir(self.dir)
        self.pid, self.home = None, None

    def hold(self, pid):
        with open(f"/proc/{pid}/cgroup") as f:
            for line in f:
                _, ctls, path = line.rstrip("\n").split(":", 2)
                if "pids" in ctls.split(",") or (ctls == "" and self.home is None):
                    self.home = os.path.join(os.path.dirname(self.dir), path.lstrip("/"))
        self.pid = pid
        self._write("pids.max", "1")
        self._write("cgroup.procs", str(pid))

    def open(self):
        self._write("pids.max", "max")

    def close(self):
        """Everything in it (the held process, and what it made after
        open()) goes back where the held process came from."""
        for pid in _procs(self.dir) if self.home else ():
            try:
                with open(os.path.join(self.home, "cgroup.procs"), "w") as f:
                    f.write(pid)
            except OSError:
                pass  # it is gone
        wait_for(lambda: not _procs(self.dir), timeout=5)
        os.rmdir(self.dir)

    def _write(self, name, value):
        with open(os.path.join(self.dir, name), "w") as f:
            f.write(value)


def _procs(d):
    with open(os.path.join(d, "cgroup.procs")) as f:
        return f.read().split()


@pytest.fixture
def jail():
    j = PidsJail()
    try:
        yield j
    finally:
        j.close()


def test_a_start_that_fails_in_the_launcher_is_reported_and_the_pool_recovers(
        make_daemon, jail):
    d = make_daemon(TWO_SANDBOXES)
    c = d.client()
    first, _ = lease(c)  # the zygote runs from here on
    run_ok(c, first)
    [z] = zygotes(d)
    jail.hold(z)  # its clone of the next init fails

    code, body = c.request("POST", "/v1/slots", {"timeout_s": 2})
    assert code == 503, (code, body)
    err = json.loads(body)["error"]
    assert err["code"] == "acquire_timeout", err
    assert "its last sandbox start failed" in err["message"], err
    assert "clone3 sandbox" in err["message"], err
    # The loop answered throughout, and the zygote did not break: it said
    # why the clone failed.
    assert api(c, "GET", "/v1/health", status=200)["ok"] is True
    assert zygote_metrics(d) == (1, 0)
    log = d.read_log()
    failed = re.findall(r"event=sandbox_start_failed .*?sandbox=(\S+)", log)
    assert failed, log[-2000:]
    # Nothing of the failed sandboxes is left (each is cleaned up before
    # its failure is logged): no cgroup, no scratch dir, no process.
    groups = [os.path.join(g, s) for g in cgroup_dirs(log) for s in failed]
    assert groups and [g for g in groups if os.path.exists(g)] == []
    assert [s for s in failed
            if os.path.exists(os.path.join(d.state_dir, "sandboxes", s))] == []
    assert [s for s in failed if procs_naming(s)] == []

    jail.open()
    second, _ = lease(c)  # the pool tries again (after its back-off)
    run_ok(c, second)
    run_ok(c, first)
    assert zygotes(d) == [z]


def test_a_daemon_stopped_while_sandboxes_start_ends_them_all(make_daemon):
    d = make_daemon(EIGHT_WARM)
    # health answers while the eight warm sandboxes are still starting
    assert d.stop() == 0
    assert_nothing_left(d)


def test_a_daemon_stopped_while_sandboxes_start_can_keep_them(make_daemon):
    """--keep-sandboxes: a sandbox still starting at the stop is kept
    with the others (the next daemon adopts it, or ends it if its init
    was not yet ready to be adopted); nothing is leaked either way, and
    the pool is whole again."""
    d = make_daemon(EIGHT_WARM, args=["--keep-sandboxes"])
    assert d.stop() == 0
    started = set(re.findall(r"event=sandbox_starting .*?sandbox=(\S+)", d.read_log()))
    assert started, d.read_log()[-2000:]
    d.start()
    c = d.client()
    slots = [api(c, "POST", "/v1/slots", {"timeout_s": 30}, 201)["slot_id"] for _ in range(16)]
    assert len({s.split("_slot_")[0] for s in slots}) == 8
    for s in slots:
        run_ok(c, s)
    # those not adopted are gone: no process of theirs is left
    live = {s.split("_slot_")[0] for s in slots}
    assert [s for s in started - live if procs_naming(s)] == []
    assert d.stop() == 0  # started with --keep-sandboxes: keeps them
    d.args.remove("--keep-sandboxes")
    d.start()
    assert d.stop() == 0  # a plain stop after that purges
    assert_nothing_left(d)


def groups_of(log, sandbox):
    """This daemon's groups of one sandbox: its own in each hierarchy, and
    its slots' v1 memory groups beside the sandboxes' ("<id>.s<N>")."""
    return [os.path.join(g, e) for g in cgroup_dirs(log) if os.path.isdir(g)
            for e in os.listdir(g) if e == sandbox or e.startswith(sandbox + ".s")]


def test_a_dead_sandboxs_groups_go_while_the_daemon_runs(make_daemon):
    d = make_daemon(TWO_SANDBOXES)
    c = d.client()
    sid, sb = lease(c)
    run_ok(c, sid)
    assert groups_of(d.read_log(), sb)
    os.kill(init_of(d, sb), signal.SIGKILL)
    # Once the daemon has seen init go, the holder learns it at its next
    # call. (Sent at once, a call may still run and succeed: the slot's
    # leader outlives init by the moment its death signal takes.)
    assert wait_for(lambda: re.search(rf"sandbox_lost\b.*\b{re.escape(sb)}\b",
                                      d.read_log()), timeout=10)
    code, body = c.request("POST", f"/v1/slots/{sid}/exec",
                           {"tool": "bash", "args": {"command": "true"}})
    assert code == 502 and json.loads(body)["error"]["code"] == "sandbox_lost", body
    api(c, "DELETE", f"/v1/slots/{sid}", status=204)  # the pool lets it go
    assert wait_for(lambda: not groups_of(d.read_log(), sb), timeout=10), \
        groups_of(d.read_log(), sb)
    assert "cgroup_remove_failed" not in d.read_log()
    other, _ = lease(c)
    run_ok(c, other)
