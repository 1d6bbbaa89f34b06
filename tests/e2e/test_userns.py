# SPDX-License-Identifier: Apache-2.0
"""userns: true: each sandbox in a user namespace of its own, whose root
and slot uids are unprivileged uids of the daemon's range on the host.

- a slot's /proc/self/uid_map shows the mapping (root inside is a uid of
  the range, the slot's uid maps to itself);
- from the host, no process of the sandbox (the command, its leader, the
  sandbox's init) runs as root: checked in /proc/<pid>/status of each,
  walking up from a process started in the slot to the daemon; the same
  walk on a userns: false sandbox finds the host's root (so it can fail);
- a sample of the isolation checks of test_redteam*.py passes with it;
- exec, the file API, reset, fork, snapshots, a workspace template and a
  daemon restart (adoption) work, with the owners the slot expects;
- a store image's opaque dirs and whiteouts show as with userns: false,
  and an image imported without the user.overlay.* marks (an older
  slotbox) is refused, naming the fix (re-import), which works;
- a world-writable dir of the image (/var/tmp) takes files, within the
  slot's disk cap, private to the slot and gone after a reset;
- profiles it cannot serve are refused at start, naming why.
"""
import json
import os
import re
import subprocess
import time

import pytest

import imagekit
import test_images as ti
import test_isolation as tiso
import test_redteam as rt
import test_redteam_host as rth
from conftest import SLOTBOXD, api

PROFILES = """
profiles:
  default:
    slots_per_sandbox: 2
    min_sandboxes: 1
    max_sandboxes: 2
    userns: true
  plain:
    slots_per_sandbox: 1
    min_sandboxes: 0
    max_sandboxes: 1
    userns: false
"""


def with_userns(config):
    """config with userns: true added to every profile."""
    return re.sub(r"^(  [A-Za-z0-9_-]+:\n)", r"\1    userns: true\n", config,
                  flags=re.M)


def acquire(c, profile="default", **body):
    return api(c, "POST", "/v1/slots", dict(profile=profile, **body),
               201)["slot_id"]


def bash(c, slot, cmd, timeout_s=30):
    r = api(c, "POST", f"/v1/slots/{slot}/exec",
            {"tool": "bash", "args": {"command": cmd}, "timeout_s": timeout_s}, 200)
    assert r["metadata"]["returncode"] == 0, r
    return r["metadata"]["stdout"]


def status(pid):
    """Uid (real, effective, saved, fs) and PPid of a host pid."""
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("Uid", "Gid"):
                out[k] = [int(x) for x in v.split()]
            elif k == "PPid":
                out[k] = int(v)
    return out


def chain_from_host(marker, daemon_pid):
    """The host pids from the slot process whose command line holds
    marker up to (not including) the daemon, with their status."""
    pid = None
    deadline = time.monotonic() + 5
    while pid is None and time.monotonic() < deadline:
        for p in filter(str.isdigit, os.listdir("/proc")):
            try:
                with open(f"/proc/{p}/cmdline", "rb") as f:
                    if marker.encode() in f.read():
                        pid = int(p)
                        break
            except OSError:
                pass
        time.sleep(0.05)
    assert pid, "the slot's process is not seen from the host"
    chain = []
    while pid not in (daemon_pid, 0, 1):
        st = status(pid)
        chain.append((pid, st))
        pid = st["PPid"]
    assert pid == daemon_pid, chain
    return chain


@pytest.fixture
def ud(make_daemon):
    d = make_daemon(PROFILES)
    return d, d.client()


def test_slot_sees_its_own_uid_map(ud):
    d, c = ud
    assert api(c, "GET", "/v1/profiles")["profiles"]["default"]["userns"] is True
    s = acquire(c)
    uid = int(bash(c, s, "id -u"))
    lines = [ln.split() for ln in bash(c, s, "cat /proc/self/uid_map").splitlines()]
    maps = {int(a): (int(b), int(n)) for a, b, n in lines}
    # root inside is an unprivileged uid of the daemon's range
    lo, hi = rth.uid_range(d)
    assert 0 in maps and maps[0][1] == 1
    assert maps[0][0] != 0 and lo <= maps[0][0] <= hi
    # the slot's uid is itself on the host, and not root inside
    assert uid != 0 and any(a <= uid < a + n and b == a for a, (b, n) in maps.items())
    assert "0 0 4294967295" not in bash(c, s, "cat /proc/self/uid_map | tr -s ' '")
    # the plain profile's slot is in the host's user namespace
    p = acquire(c, "plain")
    assert bash(c, p, "cat /proc/self/uid_map").split() == ["0", "0", "4294967295"]


@pytest.mark.parametrize("profile", ["default", "plain"])
def test_no_process_of_the_sandbox_is_root_on_the_host(ud, profile):
    d, c = ud
    s = acquire(c, profile)
    marker = f"userns-probe-{profile}-{os.getpid()}"
    bash(c, s, f"(exec -a {marker} sleep 60) > /dev/null 2>&1 &")
    chain = chain_from_host(marker, d.proc.pid)
    # the command, its leader (PID 1 of the slot), the sandbox's init
    assert len(chain) >= 3, chain
    uids = [u for _, st in chain for u in st["Uid"] + st["Gid"]]
    if profile == "plain":
        assert 0 in uids, chain  # init and the leader: the host's root
        return
    assert 0 not in uids, chain
    lo, hi = rth.uid_range(d)
    assert all(lo <= u <= hi for u in uids), chain
    # the leader's and init's root inside is R, as the slot's map says
    leader = chain[-2][0]
    with open(f"/proc/{leader}/uid_map") as f:
        first = f.readline().split()
    assert first[0] == "0" and int(first[1]) == chain[-1][1]["Uid"][0]


# ---- a sample of the red team's checks, with userns: true ----

REDTEAM_PAIR = [
    rt.test_two_slots_both_serve_port_8000_and_reach_only_their_own,
    rt.test_neighbour_sees_no_socket_of_the_other_slot,
    rt.test_neighbour_sees_no_ipc_object_of_the_other_slot,
    rt.test_per_slot_view_of_cgroups_names_no_host_path,
    rt.test_pty_hoarding_leaves_the_neighbour_its_ptys,
    rt.test_aio_and_io_uring_are_denied,
]


@pytest.mark.parametrize("check", REDTEAM_PAIR, ids=lambda f: f.__name__[5:])
def test_redteam_pair_checks_with_userns(make_daemon, check):
    d = make_daemon(with_userns(rt.PROFILES))
    c = d.client()
    check((d, c, rt.acquire(c), rt.acquire(c)))


@pytest.mark.parametrize("reset", ["false", "true"])
def test_redteam_next_tenant_sees_no_ipc_with_userns(make_daemon, monkeypatch, reset):
    monkeypatch.setattr(rt, "PROFILES", with_userns(rt.PROFILES))
    rt.test_next_tenant_sees_no_ipc_object_of_the_previous(make_daemon, reset)


def test_redteam_network_host_keeps_ipc_per_slot_with_userns(make_daemon, monkeypatch):
    monkeypatch.setattr(rt, "PROFILES", with_userns(rt.PROFILES))
    rt.test_network_host_still_keeps_ipc_per_slot(make_daemon)


@pytest.fixture
def make_userns_daemon(make_daemon):
    """make_daemon, with userns: true in every profile of the config."""
    def factory(config_yaml=None, *args, **kw):
        return make_daemon(None if config_yaml is None else with_userns(config_yaml),
                           *args, **kw)

    return factory


def test_redteam_no_host_paths_in_proc_views_with_userns(make_userns_daemon):
    rth.test_no_host_paths_in_a_slots_proc_views(make_userns_daemon)


def test_redteam_no_empty_call_groups_with_userns(make_userns_daemon):
    rth.test_timed_out_calls_and_releases_leave_no_empty_call_group(make_userns_daemon)


def test_redteam_daemon_files_absent_with_userns(make_daemon, host_dir):
    # the config is written by the test itself: userns through the
    # environment instead (USERNS=true applies to every profile)
    rth.test_daemon_files_absent_from_a_host_image_slot(
        lambda cfg, **kw: make_daemon(cfg, env={"SLOTBOX_USERNS": "true"}, **kw),
        host_dir)


@pytest.fixture
def host_dir():
    import shutil, tempfile
    d = tempfile.mkdtemp(prefix="sbx-uns-", dir="/var/tmp")
    os.chmod(d, 0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


# ---- what a slot does ----

def test_exec_files_reset_fork_and_snapshot(ud):
    d, c = ud
    s = acquire(c)
    uid = int(bash(c, s, "id -u"))
    # files: written by the API, owned by the slot's uid inside
    code, body = c.request("PUT", f"/v1/slots/{s}/file?path=a/b.txt", b"hello\n", raw=True)
    assert code in (200, 201, 204), body
    assert bash(c, s, "stat -c '%u %s' a/b.txt") == f"{uid} 6\n"
    bash(c, s, "echo made-in-slot > c.txt; mkdir -p d; echo x > d/e")
    r = api(c, "POST", f"/v1/slots/{s}/exec",
            {"tool": "read_file", "args": {"path": "c.txt"}}, 200)
    assert "made-in-slot" in r["output"], r
    # root's files of the image stay readable; root inside owns nothing new
    assert bash(c, s, "head -c 4 /etc/passwd") == "root"
    # snapshot, then a new lease from it: same files, the new slot's owner
    api(c, "POST", f"/v1/slots/{s}/snapshot", {"name": "uns"}, 201)
    f = api(c, "POST", f"/v1/slots/{s}/fork", {"count": 1}, 201)
    kids = [x["slot_id"] if isinstance(x, dict) else x
            for x in f.get("slots", f.get("slot_ids", []))]
    assert len(kids) == 1, f
    k = kids[0]
    kuid = int(bash(c, k, "id -u"))
    assert bash(c, k, "cat a/b.txt c.txt d/e") == "hello\nmade-in-slot\nx\n"
    assert bash(c, k, "stat -c %u a/b.txt d d/e").split() == [str(kuid)] * 3
    api(c, "DELETE", f"/v1/slots/{k}", None, 204)
    api(c, "DELETE", f"/v1/slots/{s}?reset=true", None, 204)
    n = acquire(c, snapshot="uns")
    nuid = int(bash(c, n, "id -u"))
    assert bash(c, n, "cat c.txt; stat -c %u c.txt d/e") == f"made-in-slot\n{nuid}\n{nuid}\n"
    # reset=true empties the workspace
    api(c, "DELETE", f"/v1/slots/{n}?reset=true", None, 204)
    n2 = acquire(c)
    assert bash(c, n2, "ls -A | wc -l") == "0\n"


def test_workspace_template_is_the_slot_s_own(make_daemon, tmp_path):
    tpl = tmp_path / "tpl"
    (tpl / "src").mkdir(parents=True)
    (tpl / "src" / "main.py").write_text("print('tpl')\n")
    d = make_daemon(PROFILES.replace("    userns: true\n",
                                     f"    userns: true\n    workspace_template: {tpl}\n", 1))
    c = d.client()
    s = acquire(c)
    uid = bash(c, s, "id -u").strip()
    assert bash(c, s, "python3 src/main.py") == "tpl\n"
    assert bash(c, s, "stat -c %u src src/main.py").split() == [uid, uid]
    bash(c, s, "echo more >> src/main.py && git init -q . && git status --short | head -1")


def test_adopted_after_a_daemon_restart(make_daemon):
    d = make_daemon(PROFILES)
    c = d.client()
    s = acquire(c)
    bash(c, s, "echo kept > k.txt")
    d.proc.kill()  # a crash: the sandboxes wait for a daemon to adopt them
    d.proc.wait()
    d.start()
    c = d.client()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        code, body = c.request("POST", f"/v1/slots/{s}/exec",
                               {"tool": "bash", "args": {"command": "cat k.txt"}})
        if code == 200:
            break
        time.sleep(0.1)
    assert bash(c, s, "cat k.txt; cat /proc/self/uid_map | wc -l") == "kept\n2\n"
    assert "adopt" in d.read_log()


# ---- the image's own directories ----

@pytest.fixture(scope="module")
def opaque_layout(tmp_path_factory):
    d = tmp_path_factory.mktemp("img") / "oci"
    return imagekit.oci_layout(str(d), [imagekit.rootfs_tar(), ti.top_layer()],
                               env=["FOO=bar", "PATH=/usr/bin:/bin"],
                               workdir="/app")


def strip_user_marks(store):
    """Make the store look as an older slotbox left it: no
    user.overlay.* marks, no "userxattr" in the refs. Returns how many
    marks went."""
    n = 0
    for root, dirs, _ in os.walk(os.path.join(store, "layers")):
        for name in dirs:
            p = os.path.join(root, name)
            if "user.overlay.opaque" in os.listxattr(p, follow_symlinks=False):
                os.removexattr(p, "user.overlay.opaque", follow_symlinks=False)
                n += 1
    refs = os.path.join(store, "refs")
    for f in os.listdir(refs):
        with open(os.path.join(refs, f)) as fh:
            ref = json.load(fh)
        assert ref.pop("userxattr") is True, ref
        with open(os.path.join(refs, f), "w") as fh:
            json.dump(ref, fh)
    return n


def test_store_image_opaque_dirs_and_whiteouts(make_daemon, opaque_layout):
    d = make_daemon(with_userns(ti.PROFILES))
    c = d.client()
    assert api(c, "GET", "/v1/profiles")["profiles"]["tiny"]["userns"] is True
    ti.cli(d, "image", "import", "tiny:1", opaque_layout, check_rc=0)
    # old/ is opaque in the top layer: old/a of the base layer is hidden
    assert ti.run_in(c, "tiny", ti.CHECK)["metadata"]["stdout"] == ti.EXPECT


def test_store_image_without_user_marks_is_refused_until_reimported(
        make_daemon, opaque_layout):
    d = make_daemon(with_userns(ti.PROFILES))
    c = d.client()
    ti.cli(d, "image", "import", "tiny:1", opaque_layout, check_rc=0)
    assert strip_user_marks(os.path.join(d.state_dir, "images")) >= 1
    e = api(c, "POST", "/v1/slots", {"profile": "tiny", "timeout_s": 1}, 503)
    msg = e["error"]["message"]
    assert "tiny:1" in msg and "image import tiny:1" in msg, msg
    # importing it again marks the layers the store already has
    out = json.loads(ti.cli(d, "--json", "image", "import", "tiny:1",
                            opaque_layout, check_rc=0).stdout)
    assert out["userxattr"] is True
    assert ti.run_in(c, "tiny", ti.CHECK)["metadata"]["stdout"] == ti.EXPECT


def test_store_image_world_writable_dirs(make_daemon, tmp_path):
    """A store image's /var/tmp (a layer's, 1777, root's) takes files;
    /run/lock of a lower layer, under a /run the top layer made opaque,
    stays hidden (no dir is made for it)."""
    mid = imagekit.tar_of([("var", "dir", 0o755), ("var/tmp", "dir", 0o1777),
                           ("run", "dir", 0o755), ("run/lock", "dir", 0o1777)])
    top = imagekit.tar_of([("run/.wh..wh..opq", "file", b""),
                           ("run/other", "file", b"x\n")])
    layout = imagekit.oci_layout(str(tmp_path / "oci"),
                                 [imagekit.rootfs_tar(), mid, top],
                                 env=["PATH=/usr/bin:/bin"], workdir="/app")
    d = make_daemon(with_userns(ti.PROFILES))
    c = d.client()
    ti.cli(d, "image", "import", "tiny:1", layout, check_rc=0)
    r = ti.run_in(c, "tiny", "read m _ < <(ls -ld /var/tmp); echo $m; "
                             "echo hi > /var/tmp/f; cat /var/tmp/f; ls -A /run")
    assert r["metadata"]["stdout"] == "drwxrwxrwt\nhi\nother\n", r


# test_isolation's two capped slots (disk_mb: 8), in a user namespace
CAPPED = with_userns(tiso.TWO_SLOTS_CAPPED)


def test_world_writable_image_dir_is_the_slot_s(make_daemon):
    """/var/tmp is no tmpfs of the slot but a dir of the image (the host's
    root, owned by the host's root, whom the namespace does not map)."""
    d = make_daemon(CAPPED)
    c = d.client()
    a, b = acquire(c), acquire(c)
    mode = "%o" % (os.stat("/var/tmp").st_mode & 0o7777)
    assert bash(c, a, "stat -c %a /var/tmp; echo hi > /var/tmp/sbx-uns-x; cat /var/tmp/sbx-uns-x") == \
        f"{mode}\nhi\n"
    # the slot's disk cap holds there, for that slot only
    r = api(c, "POST", f"/v1/slots/{a}/exec",
            {"tool": "bash", "args": {"command": "head -c 20M /dev/zero > /var/tmp/sbx-uns-big"}}, 200)
    assert r["metadata"]["returncode"] != 0
    assert "No space left on device" in r["metadata"]["stderr"], r
    assert bash(c, b, "test ! -e /var/tmp/sbx-uns-x && head -c 4M /dev/zero > /var/tmp/sbx-uns-mine "
                      "&& echo ok") == "ok\n"
    # a reset (in place: the same leader, a generation made by init's
    # helper) takes the files away, and the dir takes new ones
    started = bash(c, a, "cut -d' ' -f22 /proc/1/stat")
    api(c, "DELETE", f"/v1/slots/{a}?reset=true", None, 204)
    a = acquire(c)
    assert bash(c, a, "cut -d' ' -f22 /proc/1/stat") == started
    assert bash(c, a, "ls -A /var/tmp | grep -cx 'sbx-uns-x\\|sbx-uns-big'; echo again > /var/tmp/sbx-uns-x; "
                      "cat /var/tmp/sbx-uns-x") == "0\nagain\n"
    # the host's /var/tmp saw none of it
    assert not os.path.exists("/var/tmp/sbx-uns-x") and not os.path.exists("/var/tmp/sbx-uns-big")


@pytest.mark.parametrize("extra,why", [
    ("network: egress", "network: egress"),
    ("slots_per_sandbox: 1000", "999"),
])
def test_profiles_userns_cannot_serve_are_refused(tmp_path, extra, why):
    cfg = tmp_path / "p.yaml"
    cfg.write_text(f"profiles:\n  x:\n    userns: true\n    {extra}\n")
    p = subprocess.run([SLOTBOXD, "--socket", str(tmp_path / "s.sock"),
                        "--state-dir", str(tmp_path / "st"), "--config", str(cfg)],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode != 0
    assert "userns" in p.stderr and why in p.stderr, p.stderr


def test_opt_in_and_shown_as_settled(make_daemon):
    d = make_daemon("profiles:\n  default:\n    slots_per_sandbox: 1\n"
                    "  on:\n    slots_per_sandbox: 1\n    min_sandboxes: 0\n"
                    "  off:\n    slots_per_sandbox: 1\n    min_sandboxes: 0\n",
                    env={"SLOTBOX_PROFILE_ON_USERNS": "true",
                         "SLOTBOX_PROFILE_OFF_USERNS": "0"})
    c = d.client()
    ps = api(c, "GET", "/v1/profiles")["profiles"]
    assert [ps[p]["userns"] for p in ("default", "on", "off")] == [False, True, False]
    assert bash(c, acquire(c), "head -1 /proc/self/uid_map").split() == ["0", "0", "4294967295"]
    first = bash(c, acquire(c, "on"), "head -1 /proc/self/uid_map").split()
    assert first[0] == "0" and first[1] != "0"


def test_bad_userns_value_is_refused(tmp_path):
    cfg = tmp_path / "p.yaml"
    cfg.write_text("profiles:\n  x:\n    userns: maybe\n")
    p = subprocess.run([SLOTBOXD, "--socket", str(tmp_path / "s.sock"),
                        "--state-dir", str(tmp_path / "st"), "--config", str(cfg)],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode != 0
    assert 'key "userns": expected true or false' in p.stderr, p.stderr
