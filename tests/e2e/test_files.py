# SPDX-License-Identifier: Apache-2.0
"""End-to-end tests of issue 3: files and artifacts, binary-safe and confined."""
import base64
import hashlib
import io
import json
import os
import subprocess
import tarfile
import tempfile
import threading
import time
import urllib.parse
import zipfile

import pytest

from conftest import SMALL_POOL, TWO_SLOTS_ONE_SANDBOX, api


def q(**params):
    return "?" + urllib.parse.urlencode(params)


def acquire(client):
    return api(client, "POST", "/v1/slots", {}, 201)["slot_id"]


def bash(client, sid, command, **kw):
    body = {"tool": "bash", "args": {"command": command}}
    body.update(kw)
    return api(client, "POST", f"/v1/slots/{sid}/exec", body, 200)


def put(client, sid, path, data):
    code, body = client.request("PUT", f"/v1/slots/{sid}/file" + q(path=path), data, raw=True,
                                headers={"Content-Type": "application/octet-stream"})
    return code, json.loads(body)


def get(client, sid, path, **params):
    code, body = client.request("GET", f"/v1/slots/{sid}/file" + q(path=path, **params))
    return code, json.loads(body)


def test_all_byte_values_round_trip(client):
    sid = acquire(client)
    data = bytes(range(256)) * 4
    code, r = put(client, sid, "bin/all.bytes", data)
    assert code == 200, r
    assert r["bytes"] == len(data) and r["sha256"] == hashlib.sha256(data).hexdigest()
    code, r = get(client, sid, "bin/all.bytes", encoding="base64", sha256="true")
    assert code == 200, r
    assert base64.b64decode(r["content"]) == data
    assert r["encoding"] == "base64" and r["sha256"] == hashlib.sha256(data).hexdigest()
    assert r["file_size"] == len(data) and r["truncated"] is False
    # asked as text, non-UTF-8 comes back as base64 and says so
    code, r = get(client, sid, "bin/all.bytes")
    assert r["encoding"] == "base64" and base64.b64decode(r["content"]) == data
    # a command sees the same bytes
    out = bash(client, sid, "sha256sum bin/all.bytes | cut -d' ' -f1")
    assert out["metadata"]["stdout"].strip() == hashlib.sha256(data).hexdigest()
    # owned by the slot's uid
    uid = bash(client, sid, "id -u")["metadata"]["stdout"].strip()
    assert bash(client, sid, "stat -c %u bin/all.bytes")["metadata"]["stdout"].strip() == uid


def test_50mib_round_trip(client):
    sid = acquire(client)
    data = os.urandom(50 << 20)
    code, r = put(client, sid, "big.bin", data)
    assert code == 200, r
    assert r["sha256"] == hashlib.sha256(data).hexdigest()
    code, r = get(client, sid, "big.bin", encoding="base64", sha256="true")
    assert code == 200
    assert r["sha256"] == hashlib.sha256(data).hexdigest()
    assert base64.b64decode(r["content"]) == data


def test_max_bytes_and_text(client):
    sid = acquire(client)
    bash(client, sid, "printf 'héllo wörld' > t.txt")
    code, r = get(client, sid, "t.txt", max_bytes=3, sha256="true")
    assert code == 200
    assert r["truncated"] is True and r["bytes"] == 3
    assert r["file_size"] == len("héllo wörld".encode())
    assert r["sha256"] == hashlib.sha256("héllo wörld".encode()).hexdigest()
    code, r = get(client, sid, "t.txt")
    assert r["encoding"] == "text" and r["content"] == "héllo wörld"


@pytest.mark.parametrize("name", ["with space.txt", "quote'\"s.txt", "$(touch pwned).txt",
                                  "new\nline.txt", "ünïcødé-文件.txt", "-rf"])
def test_hostile_names(client, name):
    sid = acquire(client)
    code, r = put(client, sid, "dir/" + name, b"x")
    assert code == 200, r
    code, r = get(client, sid, "dir/" + name)
    assert code == 200 and r["content"] == "x"
    lst = api(client, "GET", f"/v1/slots/{sid}/list" + q(path="dir"), status=200)
    assert lst["entries"] == [name]
    assert bash(client, sid, "ls -A")["metadata"]["stdout"] == "dir\n", "nothing ran from the name"


def test_escapes_are_refused(make_daemon):
    d = make_daemon(TWO_SLOTS_ONE_SANDBOX)
    c = d.client()
    a, b = acquire(c), acquire(c)
    bash(c, b, "echo b-secret > secret.txt")
    bash(c, a, "ln -s / rootlink; ln -s /etc/passwd pw; ln -s ../.. up")
    marker = f"/tmp/slotbox-escape-{os.getpid()}"
    for path in ["../../etc/shadow", "rootlink/etc/passwd", "pw", "up/etc/hostname",
                 "../" * 20 + "etc/passwd"]:
        code, r = get(c, a, path)
        assert code == 403 and r["error"]["code"] == "path_outside_workspace", (path, r)
    for path in ["../../tmp/x", "rootlink/tmp/x", "up/x", "../" + os.path.basename(marker)]:
        code, r = put(c, a, path, b"evil")
        assert code == 403 and r["error"]["code"] == "path_outside_workspace", (path, r)
    # an absolute path is the slot's own view, never the host's
    code, r = put(c, a, marker, b"not on the host")
    assert not os.path.exists(marker)
    code, r = get(c, a, "/etc/shadow")
    assert code == 403 and r["error"]["code"] == "permission_denied"
    # the state dir of the daemon is not there
    code, r = get(c, a, os.path.join(d.state_dir, "lock"))
    assert code == 404
    # another slot's workspace cannot be named at all
    code, r = get(c, a, "/workspace/secret.txt")
    assert code == 404
    lst = api(c, "GET", f"/v1/slots/{a}/list" + q(path=".", recursive="true"), status=200)
    assert all("secret" not in e for e in lst["entries"])
    # file tools through exec say the same
    r = api(c, "POST", f"/v1/slots/{a}/exec", {"tool": "read_file", "args": {"path": "rootlink/etc/passwd"}}, 200)
    assert r["success"] is False and r["metadata"]["error_code"] == "path_outside_workspace"
    assert r["metadata"]["error_class"] == "task"


def test_file_tools_via_exec(client):
    sid = acquire(client)
    r = api(client, "POST", f"/v1/slots/{sid}/exec",
            {"tool": "write_file", "args": {"path": "a/b/c.py", "content": "print('hi')\n"}}, 200)
    assert r["success"] is True, r
    r = bash(client, sid, "python3 a/b/c.py")
    assert r["metadata"]["stdout"] == "hi\n"
    r = api(client, "POST", f"/v1/slots/{sid}/exec",
            {"tool": "write_file", "args": {"path": "b.bin", "content": base64.b64encode(b"\x00\xff").decode(),
                                            "encoding": "base64"}}, 200)
    assert r["success"] is True
    r = api(client, "POST", f"/v1/slots/{sid}/exec", {"tool": "read_file", "args": {"path": "a/b/c.py"}}, 200)
    assert r["success"] is True and r["output"] == "print('hi')\n"
    r = api(client, "POST", f"/v1/slots/{sid}/exec", {"tool": "read_file", "args": {"path": "nope"}}, 200)
    assert r["success"] is False and r["metadata"]["error_code"] == "not_found"
    code, body = client.request("POST", f"/v1/slots/{sid}/exec",
                                {"tool": "write_file", "args": {"path": "x", "content": "!!", "encoding": "base64"}})
    assert code == 400


def test_list_stable_and_bounded(client):
    sid = acquire(client)
    bash(client, sid, "mkdir -p z/y a; touch z/y/1 z/2 a/3 b 'c d'")
    r = api(client, "GET", f"/v1/slots/{sid}/list", status=200)
    assert r["entries"] == ["a", "b", "c d", "z"] and r["truncated"] is False
    r = api(client, "GET", f"/v1/slots/{sid}/list" + q(recursive="true"), status=200)
    assert r["entries"] == ["a/3", "b", "c d", "z/2", "z/y/1"]
    r = api(client, "GET", f"/v1/slots/{sid}/list" + q(recursive="true", max_entries=2), status=200)
    assert r["entries"] == ["a/3", "b"] and r["truncated"] is True
    code, _ = client.request("GET", f"/v1/slots/{sid}/list" + q(max_entries=-1))
    assert code == 400


def fetch_raw(d, path):
    """GET returning raw bytes (archives)."""
    c = d.client()
    code, body = c.request("GET", path)
    c.close()
    return code, body


@pytest.mark.parametrize("fmt", ["tar", "tar.gz", "zip"])
def test_archive_formats_extract_with_system_tools(daemon, client, fmt):
    sid = acquire(client)
    bash(client, sid, "mkdir -p src/pkg; printf 'one' > src/pkg/a.txt; head -c 100000 /dev/urandom > src/b.bin; "
                      "ln -s pkg/a.txt src/link")
    code, body = fetch_raw(daemon, f"/v1/slots/{sid}/archive" + q(path="src", format=fmt))
    assert code == 200
    with tempfile.TemporaryDirectory() as t:
        arc = os.path.join(t, "arc." + fmt)
        with open(arc, "wb") as f:
            f.write(body)
        out = os.path.join(t, "out")
        os.mkdir(out)
        if fmt == "zip":
            subprocess.run(["unzip", "-q", arc, "-d", out], check=True)
        else:
            subprocess.run(["tar", "-xf", arc, "-C", out], check=True)
        with open(os.path.join(out, "pkg/a.txt")) as f:
            assert f.read() == "one"
        got = open(os.path.join(out, "b.bin"), "rb").read()
        want = base64.b64decode(get(client, sid, "src/b.bin", encoding="base64")[1]["content"])
        assert got == want
        if fmt != "zip":
            assert os.readlink(os.path.join(out, "link")) == "pkg/a.txt"


def test_archive_10000_files_streams_in_bounded_memory(make_daemon):
    # Under ASan, freed memory waits in its quarantine (up to 256 MiB,
    # resident) before reuse, so RSS would count every byte ever streamed
    # rather than what the daemon holds; this test is about the latter.
    # (A plain build ignores ASAN_OPTIONS.)
    asan = os.environ.get("ASAN_OPTIONS", "")
    daemon = make_daemon(SMALL_POOL, env={"ASAN_OPTIONS": (asan + ":" if asan else "")
                                          + "quarantine_size_mb=0"})
    client = daemon.client()
    sid = acquire(client)
    r = bash(client, sid, "python3 -c \"import os; os.mkdir('many'); "
                          "[open(f'many/f{i}', 'wb').write(os.urandom(2048)) for i in range(10000)]\"",
             timeout_s=300)
    assert r["success"], r
    before = daemon.rss_kib()
    with daemon.peak_rss() as rss:
        code, body = fetch_raw(daemon, f"/v1/slots/{sid}/archive" + q(path="many", format="tar"))
    assert code == 200
    names = tarfile.open(fileobj=io.BytesIO(body)).getnames()
    assert len(names) == 10000
    # the archive is ~25 MiB: a daemon that held it would grow by as much
    assert len(body) > 24 * 1024 * 1024
    assert 0 < rss.kib - before < 12 * 1024, f"daemon RSS grew {before} -> {rss.kib} KiB"


def test_payload_too_large(make_daemon):
    d = make_daemon("""
profiles:
  default:
    slots_per_sandbox: 1
    max_file_bytes: 1000
""")
    c = d.client()
    sid = acquire(c)
    code, r = put(c, sid, "x", b"y" * 1001)
    assert code == 413 and r["error"]["code"] == "payload_too_large"
    code, r = put(c, sid, "x", b"y" * 1000)
    assert code == 200
