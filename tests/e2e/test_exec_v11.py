# SPDX-License-Identifier: Apache-2.0
"""End-to-end tests of issue 18's exec additions (API.md 1.1, Exec):
merge_output, extra bash args that never fail a call, metadata.network,
images without bash (calls run through /bin/sh), and JSON reals printed
as written."""
import json
import os
import re
import shutil
import subprocess

import pytest

from conftest import api


def bash(client, sid, command, status=200, **args):
    return api(client, "POST", f"/v1/slots/{sid}/exec",
               {"tool": "bash", "args": {"command": command, **args}}, status)


def acquire(client, profile=None):
    body = {"profile": profile} if profile else {}
    return api(client, "POST", "/v1/slots", body, 201)["slot_id"]


INTERLEAVED = "echo 1; echo 2 >&2; echo 3; echo 4 >&2; printf 5 >&2; echo 6"


def test_merge_output_interleaves_in_write_order(client):
    sid = acquire(client)
    r = bash(client, sid, INTERLEAVED, merge_output=True)
    assert r["success"] is True
    assert r["output"] == "1\n2\n3\n4\n56\n"
    assert r["metadata"]["stdout"] == r["output"]
    assert r["metadata"]["stderr"] == ""
    # without it: the two streams apart, as before
    r = bash(client, sid, INTERLEAVED, merge_output=False)
    assert r["metadata"]["stdout"] == "1\n3\n6\n" and r["metadata"]["stderr"] == "2\n4\n5"
    assert r["output"] == "1\n3\n6\n\n2\n4\n5"
    # a failing command keeps its code; stdin still works
    r = bash(client, sid, "cat; echo err >&2; exit 3", merge_output=True, stdin="in\n")
    assert r["output"] == "in\nerr\n" and r["metadata"]["returncode"] == 3
    assert r["metadata"]["error_class"] == "task"


def test_merge_output_is_capped_like_stdout(make_daemon):
    d = make_daemon("""
profiles:
  default:
    slots_per_sandbox: 1
    min_sandboxes: 1
    max_sandboxes: 1
    output_limit_bytes: 4096
""")
    c = d.client()
    sid = acquire(c)
    r = bash(c, sid, "head -c 100000 /dev/zero | tr '\\0' a; head -c 100000 /dev/zero | tr '\\0' b >&2; echo done",
             merge_output=True)
    assert r["success"] is True and r["metadata"]["truncated"] is True
    assert r["output"] == "a" * 4096 and r["metadata"]["stderr"] == ""


def test_merge_output_in_a_batch(client):
    a, b = acquire(client), acquire(client)
    res = api(client, "POST", "/v1/exec", {"requests": [
        {"slot_id": a, "tool": "bash", "args": {"command": "echo x; echo y >&2", "merge_output": True}},
        {"slot_id": b, "tool": "bash", "args": {"command": "echo x; echo y >&2"}},
    ]}, 200)["results"]
    assert res[0]["output"] == "x\ny\n" and res[0]["metadata"]["stderr"] == ""
    assert res[1]["metadata"]["stderr"] == "y\n"


def test_extra_args_never_fail_and_network_is_reported(client):
    sid = acquire(client)
    r = bash(client, sid, "echo ok", allow_network=True, require_sandbox=False,
             some_future_flag={"nested": [1, 2]}, timeout_hint=3.5)
    assert r["success"] is True and r["output"] == "ok\n"
    assert r["metadata"]["network"] == "none"
    assert r["metadata"]["shell"] == "/bin/bash"
    res = api(client, "POST", "/v1/exec", {"requests": [
        {"slot_id": sid, "tool": "bash",
         "args": {"command": "echo b", "allow_network": False, "require_sandbox": True}}]},
        200)["results"]
    assert res[0]["success"] is True and res[0]["metadata"]["network"] == "none"


@pytest.mark.parametrize("args", [
    {"command": 5},
    {"command": "true", "cwd": 5},
    {"command": "true", "stdin": 5},
    {"command": "true", "env": "A=B"},
    {"command": "true", "merge_output": "yes"},
    {"command": "true", "merge_output": 1},
])
def test_known_args_of_the_wrong_type_are_still_400(client, args):
    sid = acquire(client)
    e = api(client, "POST", f"/v1/slots/{sid}/exec", {"tool": "bash", "args": args}, 400)
    assert e["error"]["code"] == "bad_request"


def test_network_host_profile_is_reported(make_daemon):
    d = make_daemon("""
profiles:
  default:
    slots_per_sandbox: 1
    min_sandboxes: 0
  hostnet:
    network: host
    slots_per_sandbox: 1
    min_sandboxes: 0
""")
    c = d.client()
    r = bash(c, acquire(c, "hostnet"), "true", allow_network=True)
    assert r["metadata"]["network"] == "host"


def _libs(binary):
    out = subprocess.run(["ldd", binary], capture_output=True, text=True).stdout
    return [p for line in out.splitlines() for p in line.split() if p.startswith("/")]


@pytest.fixture
def no_bash_root(tmp_path):
    """A root with dash as /bin/sh and no bash at all (as busybox or alpine
    images are), as a dir: image."""
    root = tmp_path / "root"
    dash = shutil.which("dash")
    for f in [dash] + _libs(dash):
        dest = root / f.lstrip("/")
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(os.path.realpath(f), dest)
    (root / "bin").mkdir(exist_ok=True)
    shutil.copy2(dash, root / "bin" / "sh")
    for d in ("tmp", "etc"):
        (root / d).mkdir(exist_ok=True)
    assert not (root / "bin" / "bash").exists()
    return str(root)


def test_image_without_bash_runs_through_sh(make_daemon, no_bash_root):
    d = make_daemon(f"""
profiles:
  default:
    slots_per_sandbox: 1
    min_sandboxes: 0
  nobash:
    image: "dir:{no_bash_root}"
    slots_per_sandbox: 2
    min_sandboxes: 0
""")
    c = d.client()
    sid = acquire(c, "nobash")
    r = bash(c, sid, 'echo "$0"; echo "$SHELL"; x=4; echo $((x * 2)); pwd')
    assert r["success"] is True, r
    assert r["output"] == "/bin/sh\n/bin/sh\n8\n/workspace\n"
    assert r["metadata"]["shell"] == "/bin/sh"
    # merged output and failing commands behave as with bash
    r = bash(c, sid, "echo a; echo b >&2; exit 4", merge_output=True)
    assert r["output"] == "a\nb\n" and r["metadata"]["returncode"] == 4
    # a slot of the host image still gets bash
    r = bash(c, acquire(c), 'echo "$0"')
    assert r["output"] == "/bin/bash\n" and r["metadata"]["shell"] == "/bin/bash"


NUMBER = re.compile(rb'"(?:[^"\\]|\\.)*"|(-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)')


def _digits(text):
    """The significant digits of a decimal number's text."""
    mant = text.lower().lstrip("-").split("e")[0].replace(".", "")
    return mant.lstrip("0").rstrip("0") or "0"


def reals(raw):
    """Every number token outside strings in a JSON text."""
    return [m.group(1).decode() for m in NUMBER.finditer(raw) if m.group(1)]


def assert_shortest(raw):
    found = [t for t in reals(raw) if "." in t or "e" in t.lower()]
    for t in found:
        # Python's repr is the shortest text that reads back as the same
        # double: the daemon's must have no more digits than it
        assert _digits(t) == _digits(repr(float(t))), (t, raw)
    return found


def test_reals_print_as_written(make_daemon):
    d = make_daemon("""
profiles:
  default:
    slots_per_sandbox: 1
    min_sandboxes: 1
    max_sandboxes: 1
    idle_timeout_s: 4.905
    execution_timeout_s: 0.3
""")
    c = d.client()
    st, raw = c.request("GET", "/v1/profiles")
    assert st == 200
    assert b'"idle_timeout_s":4.905,' in raw, raw
    assert b'"execution_timeout_s":0.3,' in raw, raw
    assert_shortest(raw)
    assert json.loads(raw)["profiles"]["default"]["idle_timeout_s"] == 4.905
    sid = acquire(c)
    for _ in range(5):
        st, raw = c.request("POST", f"/v1/slots/{sid}/exec",
                            {"tool": "bash", "args": {"command": "echo 0.1"}})
        assert st == 200
        found = assert_shortest(raw)
        assert len(found) >= 3  # duration_ms, cpu_user_ms, cpu_system_ms
        assert json.loads(raw)["output"] == "0.1\n"  # strings untouched
        # the duration is in whole microseconds: at most three decimals
        dur = re.search(rb'"duration_ms":([0-9.]+)[,}]', raw).group(1)
        assert len(dur.partition(b".")[2]) <= 3, raw
        assert float(dur) > 0
    st, raw = c.request("POST", f"/v1/slots/{sid}/renew", {"ttl_s": 12.345})
    assert st == 200 and b'"ttl_s":12.345,' in raw, raw
