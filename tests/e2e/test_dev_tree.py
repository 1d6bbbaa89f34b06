# SPDX-License-Identifier: Apache-2.0
"""A slot's /dev (src/init/dev_tree.c): where every slot of a sandbox sees
the same nodes, init makes the tree once, read-only, and each slot
generation binds it; devpts and /dev/shm stay each slot's own. The nodes
must work, nothing may be added to the shared tree, and a reset's new
generation binds it again."""
from conftest import TWO_SLOTS_ONE_SANDBOX, api
from test_core import acquire, bash

PROBE = ("stat -c %d /dev; stat -c %d /dev/pts; "
         "echo x > /dev/null && echo null-ok; "
         "head -c 8 /dev/urandom | wc -c; head -c 3 /dev/zero | od -An -tx1; "
         "touch /dev/added 2>&1; ls /dev/added 2>&1; "
         "mkdir /dev/shm/own && echo shm-ok")


def probe(c, slot):
    r = bash(c, slot, PROBE)
    out = r["metadata"]["stdout"].splitlines()
    return out, r["metadata"]["stderr"]


def check(out, err):
    assert out[2] == "null-ok", (out, err)
    assert out[3].strip() == "8" and out[4].split() == ["00"] * 3, out
    assert "Read-only file system" in out[5], out
    assert "No such file" in out[6], out
    assert out[7] == "shm-ok", (out, err)


def test_slots_of_a_sandbox_bind_one_read_only_dev(make_daemon):
    c = make_daemon(TWO_SLOTS_ONE_SANDBOX).client()
    a, b = acquire(c), acquire(c)
    assert a["sandbox_id"] == b["sandbox_id"]
    (oa, ea), (ob, eb) = probe(c, a["slot_id"]), probe(c, b["slot_id"])
    check(oa, ea)
    check(ob, eb)
    assert oa[0] == ob[0]  # one file system behind both slots' /dev
    assert oa[1] != ob[1]  # and a devpts of each slot's own

    # a pty of one slot is not in the other's /dev/pts
    r = bash(c, a["slot_id"],
             "python3 -c 'import os,pty,time; m,s=pty.openpty(); "
             "print(os.ttyname(s), flush=True); time.sleep(20)' > /tmp/pty & "
             "for i in $(seq 100); do [ -s /tmp/pty ] && break; sleep 0.05; "
             "done; cat /tmp/pty; ls /dev/pts")
    name = r["metadata"]["stdout"].split()[0]
    assert name.startswith("/dev/pts/"), r
    assert name.rsplit("/", 1)[1] in r["metadata"]["stdout"].split()[1:], r
    listing = bash(c, b["slot_id"], "ls /dev/pts")["metadata"]["stdout"]
    assert listing.split() == ["ptmx"], listing

    # a reset's new generation binds the same tree, and works (the
    # sandbox's one other slot is b's, still leased)
    api(c, "DELETE", "/v1/slots/%s?reset=true" % a["slot_id"], None, 204)
    again = acquire(c)
    # the same slot (its id's last part counts its leases)
    assert again["slot_id"].rsplit(".", 1)[0] == \
        a["slot_id"].rsplit(".", 1)[0], again
    oc, ec = probe(c, again["slot_id"])
    check(oc, ec)
    assert oc[0] == ob[0], (ob, oc)
