# SPDX-License-Identifier: Apache-2.0
"""A slot's /sys (src/init/slot_ns.c): where a slot's network namespace
holds only loopback (network: none, no user namespace), init mounts one
sysfs per sandbox, in a network namespace of its own with only loopback,
and each slot generation binds it read-only, instead of a sysfs per slot
generation (each of which the kernel matches against every sysfs on the
host: issue 22). The tree must work (nproc, the CPU list), show loopback
and no interface of the host, refuse writes, and come back the same after
a reset and a recycle; the slot's own network counters are in /proc/net."""
import os

from conftest import TWO_SLOTS_ONE_SANDBOX, api
from test_core import acquire, bash

PROBE = ("stat -c %d /sys; ls /sys/class/net | tr '\\n' ' '; echo; "
         "cat /sys/devices/system/cpu/online; nproc; "
         "touch /sys/added 2>&1; grep -c ' /sys ro,' /proc/self/mountinfo; "
         "awk '$1 == \"lo:\" {print $2}' /proc/net/dev")


def probe(c, slot):
    r = bash(c, slot, PROBE)
    assert r["success"] or r["metadata"]["returncode"] == 0, r
    return r["metadata"]["stdout"].splitlines()


def check(out):
    assert out[1].split() == ["lo"], out  # no interface of the host's
    with open("/sys/devices/system/cpu/online") as f:
        assert out[2] == f.read().strip(), out
    assert int(out[3]) >= 1, out
    assert "Read-only file system" in out[4], out
    assert out[5] == "1", out  # /sys is one read-only mount


def test_slots_of_a_sandbox_bind_one_sysfs(make_daemon):
    assert len(os.listdir("/sys/class/net")) > 1, "the host has only lo?"
    c = make_daemon(TWO_SLOTS_ONE_SANDBOX).client()
    a, b = acquire(c), acquire(c)
    assert a["sandbox_id"] == b["sandbox_id"]
    oa, ob = probe(c, a["slot_id"]), probe(c, b["slot_id"])
    check(oa)
    check(ob)
    assert oa[0] == ob[0]  # one sysfs behind both slots' /sys

    # a slot's own traffic shows in its /proc/net/dev, not the other's
    bash(c, a["slot_id"], "python3 -c 'import socket; s = socket.socket("
         "socket.AF_INET, socket.SOCK_DGRAM); [s.sendto(b\"x\" * 1000, "
         "(\"127.0.0.1\", 9)) for _ in range(100)]'")
    assert int(probe(c, a["slot_id"])[6]) > int(probe(c, b["slot_id"])[6]) + 50000

    # a reset's new generation and a recycle (reset=false) bind it again
    for reset in ("true", "false"):
        api(c, "DELETE", "/v1/slots/%s?reset=%s" % (a["slot_id"], reset), None, 204)
        a = acquire(c)
        assert a["sandbox_id"] == b["sandbox_id"]
        oc = probe(c, a["slot_id"])
        check(oc)
        assert oc[0] == ob[0]
