# SPDX-License-Identifier: Apache-2.0
"""End-to-end tests of API.md "Version 1.1 / Files" (issue 18): long
listings, the tgz alias, and archive upload (PUT archive) - extracted as the
slot's uid, confined, all or nothing."""
import gzip
import io
import json
import tarfile
import time
import urllib.parse
import zipfile

import pytest

from conftest import api

POOL = """
profiles:
  default:
    slots_per_sandbox: 2
    min_sandboxes: 1
    max_sandboxes: 1
"""

SMALL = """
profiles:
  default:
    slots_per_sandbox: 1
    min_sandboxes: 1
    max_sandboxes: 1
    max_file_bytes: 100000
    disk_mb: 2
"""


def q(**params):
    return "?" + urllib.parse.urlencode(params)


@pytest.fixture(scope="module")
def pool():
    """One daemon for the module (each test leases its own slot)."""
    import conftest
    import subprocess
    import tempfile
    tmp = tempfile.mkdtemp(prefix="sbx-", dir="/tmp")
    d = conftest.Daemon(tmp, POOL).start(wait=False)
    d.wait_ready(timeout=120)
    yield d
    assert d.stop() in (0, None), d.read_log()
    subprocess.run(["rm", "-rf", "--one-file-system", tmp], check=False)


@pytest.fixture
def slot(pool):
    c = pool.client()
    sid = api(c, "POST", "/v1/slots", {}, 201)["slot_id"]
    yield c, sid
    c.request("DELETE", f"/v1/slots/{sid}")


def sh(c, sid, command):
    r = api(c, "POST", f"/v1/slots/{sid}/exec",
            {"tool": "bash", "args": {"command": command}}, 200)
    assert r["success"], r
    return r["metadata"]["stdout"]


def listing(c, sid, **params):
    code, body = c.request("GET", f"/v1/slots/{sid}/list" + q(**params))
    assert code == 200, body
    return json.loads(body)


def upload(c, sid, data, **params):
    code, body = c.request("PUT", f"/v1/slots/{sid}/archive" + q(**params), data, raw=True,
                           headers={"Content-Type": "application/octet-stream"})
    return code, json.loads(body)


# ---- list?long=true ----

def test_list_long_entries(slot):
    c, sid = slot
    sh(c, sid, "mkdir -p d/sub && printf abc > d/a.txt && printf 12345 > d/sub/b "
               "&& touch -d @1700000000.25 d/a.txt")
    r = listing(c, sid, path="d", long="true")
    assert r["truncated"] is False
    by = {e["path"]: e for e in r["entries"]}
    assert set(by) == {"a.txt", "sub"}
    assert set(by["a.txt"]) == {"path", "is_dir", "size", "mtime"}
    assert by["a.txt"]["is_dir"] is False and by["a.txt"]["size"] == 3
    assert isinstance(by["a.txt"]["mtime"], float)
    assert abs(by["a.txt"]["mtime"] - 1700000000.25) < 1e-3
    assert by["sub"]["is_dir"] is True
    assert abs(by["sub"]["mtime"] - time.time()) < 600
    # recursive: files, with their paths under d
    r = listing(c, sid, path="d", long="true", recursive="true")
    assert sorted((e["path"], e["size"]) for e in r["entries"]) == [("a.txt", 3), ("sub/b", 5)]
    # without long the v1 shape stays
    assert listing(c, sid, path="d")["entries"] == ["a.txt", "sub"]


def test_list_max_entries(slot):
    c, sid = slot
    sh(c, sid, "mkdir m && for i in 1 2 3 4 5; do echo $i > m/f$i; done")
    for long in ("true", "false"):
        r = listing(c, sid, path="m", long=long, max_entries=2)
        assert len(r["entries"]) == 2 and r["truncated"] is True
        r = listing(c, sid, path="m", long=long, max_entries=5)
        assert len(r["entries"]) == 5 and r["truncated"] is False
        r = listing(c, sid, path="m", long=long, max_entries=0)
        assert r["entries"] == [] and r["truncated"] is True


def test_archive_tgz_alias(slot):
    c, sid = slot
    sh(c, sid, "mkdir t && echo hi > t/x")
    code, body = c.request("GET", f"/v1/slots/{sid}/archive" + q(path="t", format="tgz"))
    assert code == 200 and body[:2] == b"\x1f\x8b"
    with tarfile.open(fileobj=io.BytesIO(body)) as t:
        assert t.extractfile("x").read() == b"hi\n"
    code, body = c.request("GET", f"/v1/slots/{sid}/archive" + q(path="t", format="rar"))
    assert code == 400 and json.loads(body)["error"]["code"] == "bad_request"


# ---- archive upload ----

def tar_bytes(entries, gz=False):
    """entries: (name, kind, payload, mode) with kind
    file|dir|symlink|hardlink|chr|fifo; owners set to 4321 to prove they
    are not kept."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz" if gz else "w", format=tarfile.GNU_FORMAT) as t:
        for name, kind, payload, mode in entries:
            info = tarfile.TarInfo(name)
            info.uid = info.gid = 4321
            info.mode = mode
            info.mtime = 1600000000
            if kind == "file":
                info.size = len(payload)
                t.addfile(info, io.BytesIO(payload))
                continue
            info.type = {"dir": tarfile.DIRTYPE, "symlink": tarfile.SYMTYPE,
                         "hardlink": tarfile.LNKTYPE, "chr": tarfile.CHRTYPE,
                         "fifo": tarfile.FIFOTYPE}[kind]
            if kind in ("symlink", "hardlink"):
                info.linkname = payload
            if kind == "chr":
                info.devmajor, info.devminor = 1, 3
            t.addfile(info)
    return buf.getvalue()


TREE = [
    (".", "dir", None, 0o555),
    ("pkg", "dir", None, 0o755),
    ("ro", "dir", None, 0o555),
    ("ro/f", "file", b"r", 0o444),
    ("pkg/sub", "dir", None, 0o700),
    ("pkg/sub/deep", "dir", None, 0o755),
    ("pkg/sub/deep/data.txt", "file", b"deep data\n", 0o644),
    ("pkg/run.sh", "file", b"#!/bin/sh\necho ran\n", 0o750),
    ("pkg/setuid", "file", b"x", 0o4755),
    ("pkg/link", "symlink", "sub/deep/data.txt", 0o777),
    ("pkg/hard", "hardlink", "pkg/run.sh", 0o750),
    ("top.txt", "file", b"top\n", 0o640),
]
TREE_BYTES = len(b"deep data\n") + len(b"#!/bin/sh\necho ran\n") + 1 + len(b"top\n") + 1


def zip_bytes():
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, kind, payload, mode in TREE:
            if kind == "dir":
                info = zipfile.ZipInfo(name + "/")
                info.external_attr = (0o040000 | mode) << 16
                z.writestr(info, b"")
            elif kind == "file":
                info = zipfile.ZipInfo(name)
                info.external_attr = (0o100000 | mode) << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                z.writestr(info, payload)
    return buf.getvalue()


@pytest.mark.parametrize("fmt", ["tar", "tar.gz", "tgz", "zip"])
def test_upload_tree(slot, fmt):
    c, sid = slot
    data = zip_bytes() if fmt == "zip" else tar_bytes(TREE, gz=fmt != "tar")
    code, r = upload(c, sid, data, path="up/here", format=fmt)
    assert code == 200, r
    links = 0 if fmt == "zip" else 2
    assert r["entries"] == len(TREE) - (2 - links) and r["bytes"] == TREE_BYTES
    uid = sh(c, sid, "id -u").strip()
    out = sh(c, sid, "cd up/here && stat -c '%n %a %u %g' top.txt pkg pkg/sub pkg/run.sh "
                     "pkg/setuid ro ro/f pkg/sub/deep/data.txt && pkg/run.sh && "
                     "cat pkg/sub/deep/data.txt")
    rows = {line.split()[0]: line.split()[1:] for line in out.splitlines() if " " in line}
    for name, mode in [("top.txt", "640"), ("pkg", "755"), ("pkg/sub", "700"),
                       ("pkg/run.sh", "750"), ("pkg/setuid", "755"),
                       ("ro", "555"), ("ro/f", "444"),
                       ("pkg/sub/deep/data.txt", "644")]:
        assert rows[name] == [mode, uid, uid], (name, rows[name])
    assert "ran\n" in out and out.endswith("deep data\n")
    if links:
        assert sh(c, sid, "readlink up/here/pkg/link; cat up/here/pkg/link; "
                          "stat -c %h up/here/pkg/hard") == "sub/deep/data.txt\ndeep data\n2\n"
    # the upload's own work directory is gone
    assert sh(c, sid, "ls -A up/here") == "pkg\nro\ntop.txt\n"


def test_upload_merges_into_existing_dir(slot):
    c, sid = slot
    sh(c, sid, "mkdir -p dst/pkg && echo keep > dst/keep && echo old > dst/top.txt "
               "&& echo mine > dst/pkg/mine")
    code, r = upload(c, sid, tar_bytes(TREE), path="dst", format="tar")
    assert code == 200, r
    assert sh(c, sid, "cd dst && cat keep top.txt pkg/mine && ls -A") == \
        "keep\ntop\nmine\nkeep\npkg\nro\ntop.txt\n"
    # a directory that is there read-only is not written into (as tar
    # would not), and nothing of that upload lands anywhere
    code, r = upload(c, sid, tar_bytes([("new.txt", "file", b"n", 0o644),
                                        ("ro", "dir", None, 0o555),
                                        ("ro/g", "file", b"g", 0o444)]), path="dst")
    assert code == 403 and r["error"]["code"] == "permission_denied", r
    assert sh(c, sid, "cd dst && ls -A . ro && stat -c %a ro") == \
        ".:\nkeep\npkg\nro\ntop.txt\n\nro:\nf\n555\n"
    # absolute paths resolve in the slot's own root; the default is the workspace
    code, r = upload(c, sid, tar_bytes([("abs.txt", "file", b"a", 0o644)]), path="/tmp/absup")
    assert code == 200, r
    assert sh(c, sid, "cat /tmp/absup/abs.txt") == "a"
    code, r = upload(c, sid, tar_bytes([("here.txt", "file", b"h", 0o644)]))
    assert code == 200, r
    assert sh(c, sid, "cat here.txt") == "h"


GOOD = ("good.txt", "file", b"good", 0o644)
MALICIOUS = {
    "absolute": [GOOD, ("/tmp/evil-abs", "file", b"x", 0o644)],
    "dotdot": [GOOD, ("a/../../../../tmp/evil-dotdot", "file", b"x", 0o644)],
    "symlink_out_write_through": [GOOD, ("link", "symlink", "/tmp", 0o777),
                                  ("link/evil-through", "file", b"x", 0o644)],
    "symlink_relative_out": [GOOD, ("d", "dir", None, 0o755),
                             ("d/link", "symlink", "../../../../tmp", 0o777)],
    "symlink_absolute": [GOOD, ("link", "symlink", "/etc/passwd", 0o777)],
    "symlink_climb_after_name": [GOOD, ("self", "symlink", ".", 0o777),
                                 ("esc", "symlink", "self/..", 0o777)],
    "hardlink_absolute": [GOOD, ("h", "hardlink", "/etc/passwd", 0o644)],
    "hardlink_dotdot": [GOOD, ("h", "hardlink", "../../../../etc/passwd", 0o644)],
    "device_node": [GOOD, ("null", "chr", None, 0o666)],
    "fifo": [GOOD, ("pipe", "fifo", None, 0o644)],
}


@pytest.mark.parametrize("case", sorted(MALICIOUS))
def test_malicious_archive_refused_and_nothing_left(slot, case):
    c, sid = slot
    sh(c, sid, "mkdir -p mal && echo keep > mal/keep")
    before_tmp = sh(c, sid, "ls -A /tmp")
    for gz in (False, True):
        data = tar_bytes(MALICIOUS[case], gz=gz)
        code, r = upload(c, sid, data, path="mal/inner/deeper")
        assert code == 400 and r["error"]["code"] == "bad_archive", r
        assert r["error"]["message"]
        # nothing of it: not the good file, not the directories it made
        assert sh(c, sid, "cd mal && find . | sort") == ".\n./keep\n"
        code, r = upload(c, sid, data, path="mal")
        assert code == 400 and r["error"]["code"] == "bad_archive", r
        assert sh(c, sid, "cd mal && find . | sort") == ".\n./keep\n"
    assert sh(c, sid, "ls -A /tmp") == before_tmp
    assert sh(c, sid, "ls /tmp/evil* /evil* 2>/dev/null; true") == ""


def test_upload_refuses_replacing_a_directory(slot):
    c, sid = slot
    sh(c, sid, "mkdir -p cf/pkg/sub && echo x > cf/pkg/sub/x")
    data = tar_bytes([("new.txt", "file", b"n", 0o644), ("pkg/sub", "file", b"f", 0o644)])
    code, r = upload(c, sid, data, path="cf")
    assert code == 409 and r["error"]["code"] == "conflict", r
    assert sh(c, sid, "cd cf && find . | sort") == ".\n./pkg\n./pkg/sub\n./pkg/sub/x\n"


def test_upload_bad_requests(slot):
    c, sid = slot
    code, r = upload(c, sid, b"this is not an archive at all" * 20, path="g")
    assert code == 400 and r["error"]["code"] == "bad_archive", r
    code, r = upload(c, sid, b"PK\3\4 broken zip", path="g", format="zip")
    assert code == 400 and r["error"]["code"] == "bad_archive", r
    code, r = upload(c, sid, tar_bytes([GOOD]), path="g", format="rar")
    assert code == 400 and r["error"]["code"] == "bad_request", r
    code, r = upload(c, sid, b"", path="g")
    assert code == 400 and r["error"]["code"] == "bad_archive", r
    code, r = upload(c, sid, tar_bytes([GOOD]), path="../../outside")
    assert code == 403 and r["error"]["code"] == "path_outside_workspace", r
    assert sh(c, sid, "ls -A g 2>&1; true").endswith("No such file or directory\n")
    # the daemon is fine and the slot still works
    code, r = upload(c, sid, tar_bytes([GOOD]), path="g")
    assert code == 200 and r["entries"] == 1 and r["bytes"] == 4


def test_upload_too_big(make_daemon):
    d = make_daemon(SMALL, start=False).start(wait=False)
    d.wait_ready(timeout=120)
    c = d.client()
    sid = api(c, "POST", "/v1/slots", {}, 201)["slot_id"]
    # the body itself past max_file_bytes
    big = tar_bytes([("big", "file", bytes(range(256)) * 800, 0o644)])
    assert len(big) > 100000
    code, r = upload(c, sid, big, path="b", format="tar")
    assert code == 413 and r["error"]["code"] == "payload_too_large", r
    # small compressed, but unpacking past the slot's disk (disk_mb: 2)
    bomb = tar_bytes([("ok", "file", b"ok", 0o644),
                      ("zeros", "file", b"\0" * (3 << 20), 0o644)], gz=True)
    assert len(bomb) < 100000
    code, r = upload(c, sid, bomb, path="b")
    assert code == 413 and r["error"]["code"] == "payload_too_large", r
    assert sh(c, sid, "ls -A; df -k . | tail -1 | awk '{print $3 < 1024}'") == "1\n"
    # below the bounds it works
    code, r = upload(c, sid, tar_bytes([("ok", "file", b"ok", 0o644)], gz=True), path="b")
    assert code == 200 and r == {"path": "b", "entries": 1, "bytes": 2}
