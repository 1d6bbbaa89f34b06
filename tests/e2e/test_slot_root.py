# SPDX-License-Identifier: Apache-2.0
"""How a slot's root is entered (src/init/mounts.c, root_chroot.c): always
pivot_root when the profile's filter lets user namespaces through (a chroot
could be undone from one); else by slotboxd --slot-root: a chroot,
pivot_root, or auto (a chroot once the host has many threads, which
pivot_root visits one by one). A chroot leaves the slot's mount namespace
a copy of the sandbox's; what must hold is that the copy keeps nothing but
the way to the slot's root: no other slot's generation (whose memory a
reset must free) and no host mount. The tests force each way."""
import os
import subprocess
import time

import pytest

from conftest import SLOTBOXD, api, wait_for
from test_core import acquire, bash
from test_zygote import children, init_of

PROFILES = """
profiles:
  default:
    slots_per_sandbox: 3
    min_sandboxes: 1
    max_sandboxes: 1
  open:
    seccomp: none
    min_sandboxes: 0
  unshare_ok:
    seccomp_allow: [unshare, clone, clone3]
    min_sandboxes: 0
  clone3_ok:
    seccomp_allow: [clone3]
    min_sandboxes: 0
  keys:
    seccomp_allow: [keyctl]
    min_sandboxes: 0
"""


@pytest.mark.parametrize("mode", [None, "chroot", "pivot_root"])
def test_the_profile_says_how_a_slot_root_is_entered(make_daemon, mode):
    args = ["--slot-root", mode] if mode else []
    p = api(make_daemon(PROFILES, args=args).client(), "GET", "/v1/profiles",
            status=200)["profiles"]
    chosen = mode or "auto"
    assert {k: v["slot_root"] for k, v in p.items()} == {
        "default": chosen, "keys": chosen, "open": "pivot_root",
        "unshare_ok": "pivot_root", "clone3_ok": "pivot_root"}


def test_a_bad_slot_root_is_refused(tmp_path):
    r = subprocess.run([SLOTBOXD, "--socket", str(tmp_path / "s.sock"),
                        "--state-dir", str(tmp_path / "state"),
                        "--slot-root", "chroots"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 2 and "--slot-root" in r.stderr, r


# Enter pid's mount namespace (setns puts the root at the namespace's) and
# list its mounts through the host's /proc, opened before: the namespace
# itself may have no /proc on that way.
LIST_MOUNTS = """
import ctypes, os, sys
ns = os.open("/proc/%s/ns/mnt" % sys.argv[1], os.O_RDONLY)
proc = os.open("/proc", os.O_RDONLY | os.O_DIRECTORY)
if ctypes.CDLL(None, use_errno=True).setns(ns, 0x00020000) != 0:
    sys.exit("setns: %d" % ctypes.get_errno())
fd = os.open("thread-self/mountinfo", os.O_RDONLY, dir_fd=proc)
sys.stdout.write(os.fdopen(fd).read())
"""


def mounts_of(pid):
    """(mount point, fstype, source) of every mount in pid's mount
    namespace, seen from that namespace's root."""
    out = subprocess.run(["python3", "-c", LIST_MOUNTS, str(pid)],
                         capture_output=True, text=True, check=True).stdout
    res = []
    for line in out.splitlines():
        left, _, right = line.partition(" - ")
        point = left.split()[4].replace("\\040", " ")
        fstype, source = right.split()[:2]
        res.append((point, fstype, source))
    return res


def on_the_way(path, root):
    return (path == "/" or root == path or root.startswith(path + "/")
            or path.startswith(root + "/"))


def leaders_of(d, sandbox_id):
    return [p for p, argv in children(init_of(d, sandbox_id)).items()
            if argv == ["slotbox-leader"]]


def check_namespaces(d, sandbox_id):
    """Each leader's namespace: one slot root, one generation, and every
    other mount on the way to that root or below it."""
    gens = [m for m in mounts_of(init_of(d, sandbox_id)) if m[2] == "slotbox-slot"]
    assert len(gens) == 3, gens  # what a copy of init's would carry
    leaders = leaders_of(d, sandbox_id)
    assert len(leaders) == 3, leaders
    for leader in leaders:
        mounts = mounts_of(leader)
        roots = [m[0] for m in mounts if m[1] == "overlay" and m[0].endswith("/root")]
        assert len(roots) == 1, mounts
        stray = [m for m in mounts if not on_the_way(m[0], roots[0])]
        assert stray == [], (roots[0], stray)
        own = [m for m in mounts if m[2] == "slotbox-slot" and
               not m[0].startswith(roots[0] + "/")]
        assert len(own) == 1 and roots[0].startswith(own[0][0] + "/"), mounts
    return leaders


@pytest.mark.parametrize("reset", ["true", "false"])
def test_a_slot_mount_namespace_keeps_only_the_way_to_its_root(make_daemon, reset):
    d = make_daemon(PROFILES, args=["--slot-root", "chroot"])
    c = d.client()
    leases = [acquire(c) for _ in range(3)]
    sandbox = leases[0]["sandbox_id"]
    check_namespaces(d, sandbox)
    # a release makes a new generation (in place, or with a new leader
    # after an idle moment), built in a namespace of its own: the same
    for rnd in range(2):
        slot = leases[rnd]["slot_id"]
        assert bash(c, slot, "echo x > f")["success"]
        api(c, "DELETE", "/v1/slots/%s?reset=%s" % (slot, reset), None, 204)
        leases[rnd] = acquire(c)
        if rnd:
            time.sleep(0.3)
    for lease in leases:
        r = bash(c, lease["slot_id"], "ls f 2>&1; awk '$5 == \"/\"' /proc/self/mountinfo | wc -l")
        assert r["success"], r
        # the slot's own view: its root is "/" and its workspace is (or,
        # with reset, is no longer) what it was
        assert r["metadata"]["stdout"].split()[-1] == "1", r
    check_namespaces(d, sandbox)


def test_init_keeps_only_what_its_slots_need_of_the_host(make_daemon):
    """init detaches, once per sandbox, the host's mounts that no slot
    needs (src/init/host_mounts.c), so that each leader's namespace, a copy
    of init's, starts small: what stays is the way to the image and to the
    sandbox's scratch tmpfs (with what is below it) and /proc. The slots
    still work, and a daemon's restart still finds its sandbox (the control
    socket's way stays)."""
    d = make_daemon(PROFILES, args=["--slot-root", "chroot"])
    c = d.client()
    lease = acquire(c)
    # init detaches right after cloning its first leader, before the
    # second (src/init/init_main.c): with all three up, it is done
    assert wait_for(lambda: len(leaders_of(d, lease["sandbox_id"])) >= 3, timeout=10), \
        "the sandbox's leaders did not all start"
    mounts = mounts_of(init_of(d, lease["sandbox_id"]))
    points = [m[0] for m in mounts]
    scratch = [m[0] for m in mounts if m[1] == "tmpfs"
               and m[0].endswith("/" + lease["sandbox_id"])]
    assert len(scratch) == 1, points
    gone = [m[0] for m in mounts_of(os.getpid()) if m[0].startswith(("/sys", "/dev"))]
    assert gone, "this host has no /sys or /dev mount to detach"
    assert [p for p in points if p in gone] == []
    assert "/proc" in points and "/" in points
    for p in points:
        assert on_the_way(p, scratch[0]) or p in ("/", "/proc") or \
            p.startswith("/proc/"), (p, points)
    r = bash(c, lease["slot_id"], "cat /dev/null && ls /sys/class/net && echo ok")
    assert r["success"] and r["metadata"]["stdout"].split()[-1] == "ok", r


@pytest.mark.parametrize("mode", ["chroot", "pivot_root"])
def test_a_slot_cannot_walk_out_of_its_root(make_daemon, mode):
    """What a process can try without privilege: walk up, from / and
    through its own root link (the leader's, pid 1, is not the slot's to
    follow)."""
    c = make_daemon(PROFILES, args=["--slot-root", mode]).client()
    slot = acquire(c)["slot_id"]
    probe = ("import os\n"
             "print(os.path.realpath('/../../..'), os.readlink('/proc/self/root'),"
             " os.stat('/../..').st_ino == os.stat('/').st_ino,"
             " os.stat('/proc/self/root/..').st_dev == os.stat('/').st_dev)\n")
    r = bash(c, slot, "python3 - <<'EOF'\n%sEOF" % probe)
    assert r["success"], r
    assert r["metadata"]["stdout"].split() == ["/", "/", "True", "True"], r
