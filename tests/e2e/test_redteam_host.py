# SPDX-License-Identifier: Apache-2.0
"""Issue 19, the host's side of slot isolation: what a slot can learn or
take of the host and of the daemon, reproduced as an attacker slot would.

- the daemon's secrets, token and config: refused when others could read
  them, and absent from a host-image slot whatever their modes;
- two daemons on one host never share a slot uid, also across a restart;
- a snapshot is bounded by what it costs on the host's disk, checked
  before anything is written;
- a max_bytes read reads max_bytes;
- a slot's views of its processes, mounts and cgroups name no host path.
"""
import errno
import os
import re
import shutil
import subprocess
import tempfile
import time

import pytest

from conftest import SLOTBOXD, api

VALUE = "tok-REDTEAM-5e2b7c91"
TOKEN = "redteam-token-0123456789abcdef"

ONE_SANDBOX = """
profiles:
  default:
    slots_per_sandbox: 2
    min_sandboxes: 1
    max_sandboxes: 1
    secrets: [creds]
"""


def acquire(c, **body):
    return api(c, "POST", "/v1/slots", dict(trajectory_id="rt", **body), 201)["slot_id"]


def bash(c, slot, cmd, timeout_s=60):
    r = api(c, "POST", f"/v1/slots/{slot}/exec",
            {"tool": "bash", "args": {"command": cmd}, "timeout_s": timeout_s}, 200)
    return r["metadata"]["stdout"]


@pytest.fixture
def host_dir():
    """A dir of the host that a host-image slot sees through its root
    (/tmp is the slot's own; /var/tmp is the host's)."""
    d = tempfile.mkdtemp(prefix="sbx-rt-", dir="/var/tmp")
    os.chmod(d, 0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def write(path, text, mode):
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)
    return path


def start_fails(tmp, args, profile=ONE_SANDBOX):
    cfg = write(os.path.join(tmp, "p.yaml"), profile, 0o644)
    p = subprocess.run([SLOTBOXD, "--socket", os.path.join(tmp, "s.sock"),
                        "--state-dir", os.path.join(tmp, "state"),
                        "--config", cfg] + args,
                       capture_output=True, text=True, timeout=30)
    assert p.returncode != 0, p.stderr
    return p.stderr


# ---- secrets, token, config ----

def test_world_readable_secret_refused_at_start_naming_the_path(tmp_path):
    sdir = tmp_path / "secrets"
    sdir.mkdir()
    path = write(str(sdir / "creds"), "API_TOKEN=%s\n" % VALUE, 0o644)
    err = start_fails(str(tmp_path), ["--secrets-dir", str(sdir)])
    assert path in err and "group or other" in err, err
    assert VALUE not in err


def test_token_file_with_group_bits_refused_at_start(tmp_path):
    tok = write(str(tmp_path / "token"), TOKEN + "\n", 0o640)
    sdir = tmp_path / "secrets"
    sdir.mkdir()
    write(str(sdir / "creds"), "API_TOKEN=%s\n" % VALUE, 0o600)
    err = start_fails(str(tmp_path), ["--secrets-dir", str(sdir), "--listen",
                                      "tcp://127.0.0.1:0", "--token-file", tok])
    assert tok in err and "group or other" in err, err
    assert TOKEN not in err and VALUE not in err


def test_daemon_files_absent_from_a_host_image_slot(make_daemon, host_dir):
    sdir = os.path.join(host_dir, "secrets")
    os.mkdir(sdir, 0o755)
    secret = write(os.path.join(sdir, "creds"), "API_TOKEN=%s\n" % VALUE, 0o600)
    tok = write(os.path.join(host_dir, "token"), TOKEN + "\n", 0o600)
    # named through a symlink, as a Kubernetes Secret mounts it
    link = os.path.join(host_dir, "token-link")
    os.symlink(tok, link)
    d = make_daemon(None, start=False, args=[
        "--secrets-dir", sdir, "--listen", "tcp://127.0.0.1:0", "--token-file", link])
    # a config file readable by all, where a slot would find it
    d.config = write(os.path.join(host_dir, "profiles.yaml"), ONE_SANDBOX, 0o644)
    d.start()
    c = d.client()
    s = acquire(c)
    # the slot does see the rest of the host dir (the image is the host's)
    write(os.path.join(host_dir, "public"), "hello\n", 0o644)
    assert bash(c, s, f"cat {host_dir}/public") == "hello\n"
    for path in (sdir, secret, tok, link, d.config, d.state_dir, os.path.dirname(d.socket)):
        out = bash(c, s, f"test -e {path} || test -L {path} && echo visible || echo absent")
        assert out == "absent\n", path
    listing = bash(c, s, f"ls -a {host_dir}")
    assert "secrets" not in listing and "token" not in listing and "profiles" not in listing
    # and the secret still reaches commands, as configured
    assert bash(c, s, 'echo "$API_TOKEN"') == VALUE + "\n"


# ---- uid ranges ----

def uid_range(d):
    m = re.search(r"uid_range.*?uids\W+(\d+)-(\d+)", d.read_log())
    assert m, d.read_log()
    return int(m.group(1)), int(m.group(2))


def slot_uid(c, s):
    return int(bash(c, s, "id -u"))


POOL = """
profiles:
  default:
    slots_per_sandbox: 2
    min_sandboxes: 1
    max_sandboxes: 1
"""


def test_two_daemons_on_one_host_get_disjoint_uid_ranges(make_daemon):
    a, b = make_daemon(POOL), make_daemon(POOL)
    ua = [slot_uid(a.client(), acquire(a.client())) for _ in range(2)]
    ub = [slot_uid(b.client(), acquire(b.client())) for _ in range(2)]
    assert not set(ua) & set(ub), (ua, ub)
    ra, rb = uid_range(a), uid_range(b)
    assert ra[1] < rb[0] or rb[1] < ra[0], (ra, rb)
    assert all(ra[0] <= u <= ra[1] for u in ua), (ua, ra)
    assert all(rb[0] <= u <= rb[1] for u in ub), (ub, rb)


def test_a_restarted_daemon_keeps_its_range_and_readopts(make_daemon):
    a = make_daemon(POOL)
    ca = a.client()
    s = acquire(ca)
    bash(ca, s, "echo kept > marker")
    before = [slot_uid(ca, s), slot_uid(ca, acquire(ca))]
    a.proc.kill()
    a.proc.wait()
    # while a is down its sandboxes still hold its uids: a newcomer gets
    # others
    b = make_daemon(POOL)
    cb = b.client()
    ub = [slot_uid(cb, acquire(cb)) for _ in range(2)]
    assert not set(ub) & set(before), (ub, before)
    ra, rb = uid_range(a), uid_range(b)
    assert ra[1] < rb[0] or rb[1] < ra[0], (ra, rb)
    a.start()
    ranges = re.findall(r"uid_range.*?uids\W+(\d+-\d+)", a.read_log())
    assert len(ranges) == 2 and ranges[0] == ranges[1], ranges  # start, restart
    ca = a.client()
    got = api(ca, "GET", f"/v1/slots/{s}", status=200)
    assert got["slot_id"] == s
    assert bash(ca, s, "cat marker") == "kept\n"
    assert slot_uid(ca, s) == before[0]


# ---- snapshots ----

def snapshots_on_disk(d):
    root = os.path.join(d.state_dir, "snapshots")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        left = os.listdir(root)
        if not left:
            break
        time.sleep(0.1)
    return left


def test_snapshot_of_30000_empty_dirs_refused_before_writing(make_daemon):
    d = make_daemon("""
profiles:
  default:
    slots_per_sandbox: 1
    min_sandboxes: 1
    max_sandboxes: 1
    disk_mb: 64
""")
    c = d.client()
    prof = api(c, "GET", "/v1/profiles")["profiles"]["default"]
    assert prof["snapshot_max_bytes"] == 64 << 20 and prof["snapshot_max_entries"] == 200000
    s = acquire(c)
    bash(c, s, "mkdir d && cd d && seq 1 30000 | xargs mkdir && ls | wc -l")
    code, body = c.request("POST", f"/v1/slots/{s}/snapshot", {"name": "dirs"})
    assert code == 413 and b"snapshot_too_large" in body, (code, body)
    assert snapshots_on_disk(d) == []
    assert api(c, "GET", "/v1/snapshots")["snapshots"] == []
    # a small one still fits
    bash(c, s, "rm -rf d; echo x > f")
    api(c, "POST", f"/v1/slots/{s}/snapshot", {"name": "small"}, 201)


def test_snapshot_entries_profile_limit_and_store_cap(make_daemon):
    d = make_daemon("""
profiles:
  default:
    slots_per_sandbox: 1
    min_sandboxes: 1
    max_sandboxes: 1
    snapshot_max_entries: 100
""", args=["--snapshot-store-max-bytes", str(1 << 20)])
    c = d.client()
    s = acquire(c)
    bash(c, s, "mkdir m && touch m/f{1..150}")
    e = api(c, "POST", f"/v1/slots/{s}/snapshot", {"name": "many"}, 413)
    assert e["error"]["code"] == "snapshot_too_large" and "100 entries" in e["error"]["message"]
    assert snapshots_on_disk(d) == []
    # 99 entries count 396 KiB: two fit the 1 MiB store, a third does not
    bash(c, s, "rm -rf m; mkdir m && touch m/f{1..98}")
    api(c, "POST", f"/v1/slots/{s}/snapshot", {"name": "one"}, 201)
    api(c, "POST", f"/v1/slots/{s}/snapshot", {"name": "two"}, 201)
    e = api(c, "POST", f"/v1/slots/{s}/snapshot", {"name": "three"}, 413)
    assert e["error"]["code"] == "snapshot_too_large"
    names = [x["name"] for x in api(c, "GET", "/v1/snapshots")["snapshots"]]
    assert names == ["one", "two"]
    # deleting gives the room back
    api(c, "DELETE", "/v1/snapshots/one", status=204)
    api(c, "POST", f"/v1/slots/{s}/snapshot", {"name": "three"}, 201)


# ---- reads ----

def daemon_rchar(d):
    with open(f"/proc/{d.proc.pid}/io") as f:
        for line in f:
            if line.startswith("rchar:"):
                return int(line.split()[1])
    raise AssertionError("no rchar")


def test_max_bytes_read_of_a_huge_sparse_file_reads_the_prefix(make_daemon):
    d = make_daemon(POOL)
    c = d.client()
    s = acquire(c)
    # 4 GiB, more than the slot's 1 GiB disk: sparse
    bash(c, s, "printf 'HEAD-of-file-123' > big && truncate -s 4G big")
    before = daemon_rchar(d)
    r = api(c, "GET", f"/v1/slots/{s}/file?path=big&max_bytes=16", status=200)
    after = daemon_rchar(d)
    assert r["content"] == "HEAD-of-file-123" and r["truncated"] is True
    assert r["file_size"] == 4 << 30
    # what the daemon read (its pipe from the slot included) is the
    # prefix, not the 4 GiB
    assert after - before < 1 << 20, after - before
    # the read_file tool bounds the same way
    before = daemon_rchar(d)
    r = api(c, "POST", f"/v1/slots/{s}/exec",
            {"tool": "read_file", "args": {"path": "big", "max_bytes": 16}}, 200)
    assert daemon_rchar(d) - before < 1 << 20, r


# ---- host paths in a slot's views ----

def test_no_host_paths_in_a_slots_proc_views(make_daemon):
    d = make_daemon(POOL)
    c = d.client()
    s = acquire(c)
    views = {p: bash(c, s, f"tr '\\0' ' ' < {p}; echo")
             for p in ("/proc/1/cmdline", "/proc/self/mountinfo", "/proc/self/cgroup")}
    views["ps"] = bash(c, s, "ps -eo args 2>/dev/null || true")
    for what, text in views.items():
        for host in (d.tmp, d.state_dir, os.path.dirname(d.socket)):
            assert host not in text, (what, host, text)
        assert "/sandboxes/" not in text, (what, text)


# ---- call groups ----

def empty_call_groups(d):
    m = re.search(r"event=cgroups .*?kill=v[12]:(\S+)", d.read_log())
    if not m:
        pytest.skip("no cgroups on this host")
    out = []
    root = m.group(1)
    for sb in (e for e in os.listdir(root) if os.path.isdir(os.path.join(root, e))):
        for slot in (os.path.join(root, sb, s) for s in os.listdir(os.path.join(root, sb))
                     if re.fullmatch(r"s\d+", s)):
            for g in os.listdir(slot):
                path = os.path.join(slot, g)
                if re.fullmatch(r"c\d+", g) and os.path.isdir(path):
                    try:
                        with open(os.path.join(path, "cgroup.procs")) as f:
                            procs = f.read()
                    except OSError as e:
                        # removed while we looked (ENODEV once the kernel
                        # has taken it down): not a leftover
                        if e.errno in (errno.ENOENT, errno.ENODEV):
                            continue
                        raise
                    if not procs.strip():
                        out.append(path)
    return out


def test_timed_out_calls_and_releases_leave_no_empty_call_group(make_daemon):
    d = make_daemon("""
profiles:
  default:
    slots_per_sandbox: 1
    min_sandboxes: 1
    max_sandboxes: 1
""")
    c = d.client()
    for reset in ("true", "false", "true", "true"):
        s = acquire(c)
        r = api(c, "POST", f"/v1/slots/{s}/exec",
                {"tool": "bash", "args": {"command": "sleep 100 & sleep 100 & wait"},
                 "timeout_s": 0.3}, 200)
        assert r["metadata"]["timed_out"] is True
        api(c, "DELETE", f"/v1/slots/{s}?reset={reset}", status=204)
    s = acquire(c)  # the slot is up again: its releases are done
    deadline = time.monotonic() + 5
    while empty_call_groups(d) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert empty_call_groups(d) == []


def test_no_host_paths_in_mountinfo_with_a_store_image(make_daemon, tmp_path):
    import imagekit
    layout = imagekit.oci_layout(str(tmp_path / "oci"), [imagekit.rootfs_tar()],
                                 env=["PATH=/usr/bin:/bin"], workdir="/")
    d = make_daemon("""
profiles:
  default:
    min_sandboxes: 0
    slots_per_sandbox: 1
  tiny:
    image: "tiny:1"
    min_sandboxes: 0
    slots_per_sandbox: 1
    acquire_timeout_s: 30
""")
    p = subprocess.run([os.path.join(os.path.dirname(SLOTBOXD), "slotbox"), "--socket",
                        d.socket, "image", "import", "tiny:1", layout],
                       capture_output=True, timeout=300)
    assert p.returncode == 0, p.stderr
    c = d.client()
    s = acquire(c, profile="tiny")
    text = bash(c, s, "cat /proc/self/mountinfo /proc/self/cgroup; "
                      "cat /proc/1/cmdline | tr '\\0' ' '")
    assert "lowerdir=" in text  # the overlay is there, with its options
    for host in (d.tmp, d.state_dir):
        assert host not in text, (host, text)
