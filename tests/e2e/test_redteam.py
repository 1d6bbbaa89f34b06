# SPDX-License-Identifier: Apache-2.0
"""Red team: an attacker slot A and a victim slot B (or the next tenant of
A's slot), arbitrary code in A, as found in issue 19. Each test reproduces
one finding against a build without the protection (it fails there) and
asserts the protection: slots of a sandbox share no port, abstract socket,
/proc/net view or SysV/POSIX IPC object; nothing of a lease's IPC (nor its
memory charge) reaches the next tenant, whether the release resets the
slot or not; one slot cannot take the host's ptys or AIO events, and
io_uring is denied."""
import json
import time

import pytest

from conftest import api

PROFILES = """
profiles:
  default:
    slots_per_sandbox: 2
    min_sandboxes: 1
    max_sandboxes: 1
  single:
    slots_per_sandbox: 1
    min_sandboxes: 0
    max_sandboxes: 1
    memory_mb: 256
  hostnet:
    network: host
    slots_per_sandbox: 2
    min_sandboxes: 0
    max_sandboxes: 1
"""

# A TCP server on 127.0.0.1:PORT that answers every connection with its
# tag, and listens on an abstract unix socket too; ready once /tmp/up exists.
SERVER = r"""
import os, socket, sys
tag = sys.argv[1].encode()
tcp = socket.socket()
tcp.bind(("127.0.0.1", 8000))
tcp.listen(16)
uds = socket.socket(socket.AF_UNIX)
uds.bind("\0slotbox-redteam")
uds.listen(16)
open("/tmp/up", "w").close()
import selectors
sel = selectors.DefaultSelector()
sel.register(tcp, selectors.EVENT_READ)
sel.register(uds, selectors.EVENT_READ)
while True:
    for key, _ in sel.select():
        c, _ = key.fileobj.accept()
        c.sendall(tag)
        c.close()
"""

# Prints what the probes find, as JSON.
PROBE = r"""
import json, socket
out = {}
try:
    s = socket.create_connection(("127.0.0.1", 8000), timeout=3)
    out["tcp"] = s.recv(16).decode()
except OSError as e:
    out["tcp"] = "error:" + type(e).__name__
try:
    u = socket.socket(socket.AF_UNIX)
    u.settimeout(3)
    u.connect("\0slotbox-redteam")
    out["abstract"] = u.recv(16).decode()
except OSError as e:
    out["abstract"] = "error:" + type(e).__name__
out["proc_net_tcp"] = ":1F40 " in open("/proc/net/tcp").read()
out["proc_net_unix"] = "@slotbox-redteam" in open("/proc/net/unix").read()
print(json.dumps(out))
"""

# SysV shm, message queue, semaphore set and a POSIX mqueue, made with a
# known key/name and world-accessible modes; `look` checks for them.
IPC = r"""
import ctypes, ctypes.util, json, os, sys
libc = ctypes.CDLL(None, use_errno=True)
rt = ctypes.CDLL(ctypes.util.find_library("rt"), use_errno=True)
libc.shmat.restype = ctypes.c_void_p
rt.mq_open.argtypes = [ctypes.c_char_p, ctypes.c_int, ctypes.c_int, ctypes.c_void_p]
IPC_CREAT = 0o1000
KEY = 0x51075107
mb = int(sys.argv[2]) if len(sys.argv) > 2 else 1
os.umask(0)
if sys.argv[1] == "make":
    shm = libc.shmget(KEY, mb << 20, IPC_CREAT | 0o666)
    addr = libc.shmat(shm, None, 0)
    ctypes.memset(addr, 1, mb << 20)  # charged to this slot's memory
    made = [shm, libc.msgget(KEY, IPC_CREAT | 0o666),
            libc.semget(KEY, 1, IPC_CREAT | 0o666),
            rt.mq_open(b"/slotbox-redteam", os.O_CREAT | os.O_RDWR, 0o666, None)]
    print(json.dumps(made))
else:
    seen = {"shm": libc.shmget(KEY, 0, 0) >= 0,
            "msg": libc.msgget(KEY, 0) >= 0,
            "sem": libc.semget(KEY, 0, 0) >= 0,
            "mq": rt.mq_open(b"/slotbox-redteam", os.O_RDWR, 0, None) >= 0}
    print(json.dumps(seen))
"""

NOTHING = {"shm": False, "msg": False, "sem": False, "mq": False}


def acquire(c, profile="default"):
    return api(c, "POST", "/v1/slots", {"profile": profile}, 201)["slot_id"]


def bash(c, slot, command, timeout_s=30):
    return api(c, "POST", "/v1/slots/%s/exec" % slot,
               {"tool": "bash", "args": {"command": command},
                "timeout_s": timeout_s}, 200)


def put(c, slot, path, text):
    code, body = c.request("PUT", "/v1/slots/%s/file?path=%s" % (slot, path),
                           text.encode(), raw=True)
    assert code in (200, 201, 204), (code, body)


def py(c, slot, script, *args, timeout_s=30):
    """Run a Python script in the slot; its stdout, parsed as JSON."""
    put(c, slot, "rt.py", script)
    r = bash(c, slot, "python3 rt.py " + " ".join(args), timeout_s)
    assert r["metadata"]["returncode"] == 0, r
    return json.loads(r["metadata"]["stdout"])


def start_server(c, slot, tag):
    put(c, slot, "srv.py", SERVER)
    r = bash(c, slot, "python3 srv.py %s > /tmp/srv.log 2>&1 & "
             "for i in $(seq 100); do [ -e /tmp/up ] && break; sleep 0.05; "
             "done; [ -e /tmp/up ] || { cat /tmp/srv.log; exit 1; }" % tag)
    return r


@pytest.fixture
def pair(make_daemon):
    d = make_daemon(PROFILES)
    c = d.client()
    return d, c, acquire(c), acquire(c)


def test_two_slots_both_serve_port_8000_and_reach_only_their_own(pair):
    d, c, a, b = pair
    r = start_server(c, a, "A")
    assert r["success"], r
    # B binds the same port and abstract name: no "Address already in use"
    r = start_server(c, b, "B")
    assert r["success"], r
    assert py(c, a, PROBE) == {"tcp": "A", "abstract": "A",
                               "proc_net_tcp": True, "proc_net_unix": True}
    assert py(c, b, PROBE) == {"tcp": "B", "abstract": "B",
                               "proc_net_tcp": True, "proc_net_unix": True}


def test_neighbour_sees_no_socket_of_the_other_slot(pair):
    d, c, a, b = pair
    assert start_server(c, a, "A")["success"]
    # B cannot connect to A's server or abstract socket, nor see them
    assert py(c, b, PROBE) == {"tcp": "error:ConnectionRefusedError",
                               "abstract": "error:ConnectionRefusedError",
                               "proc_net_tcp": False, "proc_net_unix": False}


def test_neighbour_sees_no_ipc_object_of_the_other_slot(pair):
    d, c, a, b = pair
    made = py(c, a, IPC, "make")
    assert all(x >= 0 for x in made), made
    assert py(c, b, IPC, "look") == NOTHING
    # and A, in the same lease, still has them
    assert py(c, a, IPC, "look") == {k: True for k in NOTHING}


def lease_then_next_tenant(c, reset, mb):
    """A tenant of a one-slot pool leaves IPC objects (mb MB of shm,
    touched) behind; returns the next tenant's lease of the same slot."""
    a = acquire(c, "single")
    made = py(c, a, IPC, "make", str(mb))
    assert all(x >= 0 for x in made), made
    api(c, "DELETE", "/v1/slots/%s?reset=%s" % (a, reset), None, 204)
    again = acquire(c, "single")
    assert again.split(".")[0] == a.split(".")[0]  # the same slot
    return again


@pytest.mark.parametrize("reset", ["false", "true"])
def test_next_tenant_sees_no_ipc_object_of_the_previous(make_daemon, reset):
    d = make_daemon(PROFILES)
    c = d.client()
    again = lease_then_next_tenant(c, reset, 1)
    assert py(c, again, IPC, "look") == NOTHING


@pytest.mark.parametrize("reset", ["false", "true"])
def test_next_tenant_inherits_no_memory_charge(make_daemon, reset):
    d = make_daemon(PROFILES)
    c = d.client()
    again = lease_then_next_tenant(c, reset, 160)
    # the previous tenant's 160 MB of shm no longer count against the
    # 256 MB: 150 MB of our own fit. (The kernel frees an IPC namespace's
    # objects a moment after its last process left: a few tries.)
    r = bash(c, again, "for i in 1 2 3 4 5; do python3 -c 'b = "
             "bytearray(150 << 20); b[::4096] = b\"x\" * len(b[::4096]); "
             "print(\"ok\")' && break; sleep 0.3; done")
    assert r["metadata"]["stdout"] == "ok\n", r


def test_per_slot_view_of_cgroups_names_no_host_path(pair):
    d, c, a, b = pair
    r = bash(c, a, "cat /proc/self/cgroup")
    assert r["success"], r
    out = r["metadata"]["stdout"]
    assert "slotbox" not in out, out
    # Each hierarchy's view is rooted at the group the slot's namespace was
    # made in: the slot's own group ("/", the call's "/c<id>"); in a cgroup
    # v1 memory hierarchy the daemon's, whose only entry the slot sees is
    # its own group "<sandbox id>.s<N>" (no sandbox group there, cgroup.c
    # flat_memory; the sandbox id is the slot's hostname anyway). No path
    # above it, no other slot's or sandbox's.
    sid, own = a.split("_slot_")[0], "s" + a.split("_slot_")[1].split(".")[0]
    for line in out.splitlines():
        _, ctls, path = line.split(":", 2)
        parts = [p for p in path.split("/") if p]
        assert len(parts) <= 1, line
        if sid in path:
            assert ctls == "memory" and parts == [sid + "." + own], line


HOARD_PTYS = r"""
import os, resource, sys, time
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 8192), hard))
fds = []
try:
    while len(fds) < 5000:
        fds.append(os.open("/dev/ptmx", os.O_RDWR | os.O_NOCTTY))
except OSError as e:
    err = e.errno
open("/tmp/hoarded", "w").write("%d\n" % len(fds))
time.sleep(600)
"""


def test_pty_hoarding_leaves_the_neighbour_its_ptys(pair):
    d, c, a, b = pair
    put(c, a, "hoard.py", HOARD_PTYS)
    r = bash(c, a, "python3 hoard.py > /dev/null 2>&1 & "
             "for i in $(seq 200); do [ -s /tmp/hoarded ] && break; "
             "sleep 0.05; done; cat /tmp/hoarded")
    try:
        hoarded = int(r["metadata"]["stdout"])
        # ptys_max: 64 per slot by default
        assert hoarded == 64, r
        r = bash(c, b, "python3 -c 'import os; m, s = os.openpty(); "
                 "print(os.ttyname(s))'")
        assert r["metadata"]["stdout"].startswith("/dev/pts/"), r
    finally:
        bash(c, a, "pkill -f hoard.py; true")


AIO = r"""
import ctypes, json, os
libc = ctypes.CDLL(None, use_errno=True)
NR = {"x86_64": (206, 209, 425), "aarch64": (0, 2, 425)}[os.uname().machine]
ctx = ctypes.c_ulong(0)
out = {}
r = libc.syscall(NR[0], 128, ctypes.byref(ctx))
out["io_setup"] = 0 if r == 0 else ctypes.get_errno()
out["io_submit"] = 0 if libc.syscall(NR[1], ctx, 0, None) >= 0 else ctypes.get_errno()
params = ctypes.create_string_buffer(120)
r = libc.syscall(NR[2], 8, params)
out["io_uring_setup"] = 0 if r >= 0 else ctypes.get_errno()
print(json.dumps(out))
"""


def test_aio_and_io_uring_are_denied(pair):
    d, c, a, b = pair
    ENOSYS = 38
    # fs.aio-max-nr is host-wide: a slot that could io_setup would take
    # every event of the machine
    assert py(c, a, AIO) == {"io_setup": ENOSYS, "io_submit": ENOSYS,
                             "io_uring_setup": ENOSYS}


def test_ptys_max_sets_the_slot_s_share(make_daemon):
    d = make_daemon("profiles:\n  default:\n    ptys_max: 5\n")
    c = d.client()
    a = acquire(c)
    put(c, a, "hoard.py", HOARD_PTYS)
    r = bash(c, a, "timeout 5 python3 hoard.py; cat /tmp/hoarded")
    assert r["metadata"]["stdout"] == "5\n", r
    assert api(c, "GET", "/v1/profiles")["profiles"]["default"]["ptys_max"] == 5


@pytest.mark.parametrize("reset,idle", [("false", 0), ("false", 0.3),
                                        ("true", 0)])
def test_each_lease_has_one_network_of_its_own(make_daemon, reset, idle):
    """After a release (recycle in place, or a new leader) the slot has new
    namespaces, loopback up, and every call of the new lease shares them:
    a server one call starts is reached by the next; nothing of the
    previous lease's is there. A slot left idle a moment has the next
    lease's spare make them ahead (slot_ns.c); without, the recycle makes
    them: both ways are run."""
    d = make_daemon(PROFILES)
    c = d.client()
    slot = None
    lo_bytes = "awk '$1 == \"lo:\" {print $2}' /proc/net/dev"
    for lease in range(3):
        slot = acquire(c, "single")
        if lease:
            # /proc/net too shows the new namespace's loopback, not the
            # previous lease's traffic
            r = bash(c, slot, lo_bytes)
            assert int(r["metadata"]["stdout"]) < before, (r, before)
            assert py(c, slot, PROBE)["tcp"] == "error:ConnectionRefusedError"
            assert py(c, slot, IPC, "look") == NOTHING
        assert bash(c, slot, "rm -f /tmp/up")["success"]
        assert start_server(c, slot, "L%d" % lease)["success"]
        assert py(c, slot, PROBE)["tcp"] == "L%d" % lease
        assert all(x >= 0 for x in py(c, slot, IPC, "make"))
        assert py(c, slot, IPC, "look") == {k: True for k in NOTHING}
        before = int(bash(c, slot, lo_bytes)["metadata"]["stdout"])
        assert before > 0
        time.sleep(idle)
        api(c, "DELETE", "/v1/slots/%s?reset=%s" % (slot, reset), None, 204)


def test_network_host_still_keeps_ipc_per_slot(make_daemon):
    """network: host shares the host's network (documented as not
    isolated); SysV/POSIX IPC stays the slot's own, and a recycle renews
    it."""
    d = make_daemon(PROFILES)
    c = d.client()
    a, b = acquire(c, "hostnet"), acquire(c, "hostnet")
    assert all(x >= 0 for x in py(c, a, IPC, "make"))
    assert py(c, b, IPC, "look") == NOTHING
    time.sleep(0.3)  # let the next lease's spare make its namespaces
    api(c, "DELETE", "/v1/slots/%s?reset=false" % a, None, 204)
    again = acquire(c, "hostnet")
    assert py(c, again, IPC, "look") == NOTHING


def test_a_profile_can_opt_in_to_aio(make_daemon):
    """seccomp_allow takes AIO off the default list (docs: fs.aio-max-nr is
    host-wide, so such a profile trusts its slots with it)."""
    d = make_daemon("profiles:\n  default:\n    seccomp_allow: [io_setup, "
                    "io_submit]\n")
    c = d.client()
    a = acquire(c)
    got = py(c, a, AIO)
    assert got["io_setup"] == 0 and got["io_uring_setup"] == 38, got
    rules = api(c, "GET", "/v1/profiles")["profiles"]["default"]["seccomp_rules"]
    assert "io_setup" not in rules and rules["io_uring_setup"] == "ENOSYS"
