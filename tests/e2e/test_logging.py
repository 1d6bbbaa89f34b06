# SPDX-License-Identifier: Apache-2.0
"""Request ids (X-Request-Id in, out and in the log), the request and lease
log lines in both formats, no secret in any of them, and the journald
form (syslog priority prefixes, no timestamp) when stderr is the journal."""
import http.client
import json
import os
import re
import time

import pytest

from conftest import api
from sbhttp import tcp_exchange, unix_exchange

TOKEN = "log-token-0123456789abcdef"
SECRET = "sec-VALUE-5e1d9c"
ENV_VALUE = "env-VALUE-77aa31"
CALL_ENV = "call-ENV-4242"
BODY = "body-MARKER-b0d7"
GENERATED = re.compile(r"^[0-9a-f]{8}-\d+$")

PROFILE = """
profiles:
  default:
    slots_per_sandbox: 2
    min_sandboxes: 1
    max_sandboxes: 1
    secrets: [creds]
    env_vars:
      MY_KEY: %s
""" % ENV_VALUE


def start(make_daemon, tmp_path, fmt="text", env=None, journal=None):
    sdir = tmp_path / "secrets"
    sdir.mkdir(exist_ok=True)
    (sdir / "creds").write_text("API_TOKEN=%s\n" % SECRET)
    (sdir / "creds").chmod(0o600)
    tok = tmp_path / "token"
    tok.write_text(TOKEN + "\n")
    tok.chmod(0o600)  # a token others can read is refused
    d = make_daemon(PROFILE, env=env, start=False, args=[
        "--listen", "tcp://127.0.0.1:0", "--token-file", str(tok),
        "--secrets-dir", str(sdir), "--log-level", "debug",
        "--log-format", fmt])
    if journal is not None:
        # what systemd does: JOURNAL_STREAM names the stream's dev:inode
        open(d.log_path, "ab").close()
        st = os.stat(d.log_path)
        d.env["JOURNAL_STREAM"] = journal or "%d:%d" % (st.st_dev, st.st_ino)
    d.start()
    m = re.search(r"listening.*?port\W+(\d+)", d.read_log())
    assert m, d.read_log()
    d.port = int(m.group(1))
    return d


def events(d, fmt):
    """The log's lines as dicts (logfmt or JSON), priority prefixes kept
    under "_prio"."""
    out = []
    for line in d.read_log().splitlines():
        m = re.match(r"^<(\d)>", line)
        prio = m.group(1) if m else None
        body = line[m.end():] if m else line
        if fmt == "json":
            rec = json.loads(body)
        else:
            rec = {k: v1 or v2 for k, v1, v2 in re.findall(
                r'(\w+)=(?:([^\s"]+)|"((?:[^"\\]|\\.)*)")', body)}
        rec["_prio"] = prio
        out.append(rec)
    return out


def find(d, fmt, event, **fields):
    for rec in events(d, fmt):
        if rec.get("event") == event and all(rec.get(k) == v for k, v in fields.items()):
            return rec
    raise AssertionError("no %s %r in\n%s" % (event, fields, d.read_log()))


def wait_for(d, fmt, event, timeout=5, **fields):
    deadline = time.monotonic() + timeout
    while True:
        try:
            return find(d, fmt, event, **fields)
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.02)


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_request_ids_and_lease_lines(make_daemon, tmp_path, fmt):
    d = start(make_daemon, tmp_path, fmt)
    # a client's id comes back and names the request in the log
    code, h, _ = unix_exchange(d.socket, "GET", "/v1/health",
                               headers={"X-Request-Id": "trace-42.a_B"})
    assert code == 200 and h["x-request-id"] == "trace-42.a_B"
    rec = wait_for(d, fmt, "request", request_id="trace-42.a_B")
    assert (rec["method"], rec["path"], rec["status"], rec["level"]) == \
        ("GET", "/v1/health", "200", "debug")
    assert float(rec["duration_ms"]) >= 0
    # ids that are not plain (space, too long, empty, non-ASCII) are
    # replaced by generated ones, each unique
    seen = set()
    for bad in (None, "bad id!", "x" * 65, "", "caf\u00e9".encode().decode("latin-1"),
                "a\tb"):
        hdrs = {} if bad is None else {"X-Request-Id": bad}
        code, h, _ = unix_exchange(d.socket, "GET", "/v1/status", headers=hdrs)
        assert code == 200 and GENERATED.match(h["x-request-id"]), (bad, h)
        seen.add(h["x-request-id"])
    assert len(seen) == 6
    assert "x" * 65 not in d.read_log()
    # the first of repeated ids counts; a handler's error carries it too
    conn_hdrs = [("X-Request-Id", "first"), ("X-Request-Id", "second")]
    c = http.client.HTTPConnection("127.0.0.1", d.port)
    c.putrequest("GET", "/v1/nope")
    for k, v in conn_hdrs + [("Authorization", "Bearer " + TOKEN)]:
        c.putheader(k, v)
    c.endheaders()
    r = c.getresponse()
    assert (r.status, r.getheader("X-Request-Id")) == (404, "first")
    c.close()
    # errors found by the parser: 401 (TCP without a token), 413, 400
    code, h, _ = tcp_exchange(d.port, "GET", "/v1/status",
                              headers={"X-Request-Id": "no-auth-1"})
    assert (code, h["x-request-id"]) == (401, "no-auth-1")
    wait_for(d, fmt, "request", request_id="no-auth-1", status="401",
             path="/v1/status", method="GET")
    code, h, _ = unix_exchange(d.socket, "POST", "/v1/slots", b"",
                               headers={"X-Request-Id": "big-1",
                                        "Content-Length": str(1 << 40)})
    assert (code, h["x-request-id"]) == (413, "big-1")
    code, h, _ = unix_exchange(d.socket, "GET", "/v1/status",
                               headers={"Content-Type": "a", "content-type": "b"})
    assert code == 400 and GENERATED.match(h["x-request-id"])
    # lease events, with the request that caused them
    c = d.client()
    s = json.loads(unix_exchange(d.socket, "POST", "/v1/slots",
                                 {"trajectory_id": "traj \"7\"\n"},
                                 headers={"X-Request-Id": "acq-1"})[2])
    rec = wait_for(d, fmt, "slot_acquired", request_id="acq-1")
    assert rec["level"] == "info"
    assert (rec["profile"], rec["sandbox"], rec["slot"], rec["trajectory_id"]) == \
        ("default", s["sandbox_id"], s["slot_id"],
         "traj \"7\"\n" if fmt == "json" else 'traj \\"7\\"\\n')
    code, h, _ = unix_exchange(d.socket, "DELETE", "/v1/slots/" + s["slot_id"],
                               headers={"X-Request-Id": "rel-1"})
    assert (code, h["x-request-id"]) == (204, "rel-1")
    rec = wait_for(d, fmt, "slot_released", request_id="rel-1")
    assert (rec["slot"], rec["sandbox"], rec["reset"]) == \
        (s["slot_id"], s["sandbox_id"], "true")
    # forks and snapshots name their slots and request too
    src = api(c, "POST", "/v1/slots", {"trajectory_id": "src"}, 201)["slot_id"]
    code, _, body = unix_exchange(d.socket, "POST", "/v1/slots/%s/fork" % src,
                                  {"count": 1, "trajectory_ids": ["kid"]},
                                  headers={"X-Request-Id": "fork-1"})
    assert code == 201, body
    kid = json.loads(body)["slots"][0]["slot_id"]
    rec = wait_for(d, fmt, "slot_acquired", request_id="fork-1")
    assert (rec["slot"], rec["forked_from"], rec["trajectory_id"]) == (kid, src, "kid")
    code, _, _ = unix_exchange(d.socket, "POST", "/v1/slots/%s/snapshot" % src,
                               {"name": "snap-log"}, headers={"X-Request-Id": "snap-1"})
    assert code == 201
    rec = wait_for(d, fmt, "snapshot_created", request_id="snap-1")
    assert (rec["snapshot"], rec["slot"]) == ("snap-log", src)
    # one line per request, every line parses, every request logged once
    recs = [r for r in events(d, fmt) if r.get("event") == "request"]
    ids = [r["request_id"] for r in recs]
    assert ids.count("acq-1") == 1 and ids.count("trace-42.a_B") == 1
    assert all(r["_prio"] is None for r in events(d, fmt))  # not the journal
    assert all("ts" in r for r in events(d, fmt))


def test_a_5xx_is_logged_as_warn(make_daemon, tmp_path):
    d = start(make_daemon, tmp_path)
    c = d.client()
    api(c, "POST", "/v1/slots", {}, 201)
    api(c, "POST", "/v1/slots", {}, 201)
    code, h, _ = unix_exchange(d.socket, "POST", "/v1/slots", {"timeout_s": 0.1},
                               headers={"X-Request-Id": "full-1"})
    assert (code, h["x-request-id"]) == (503, "full-1")
    rec = wait_for(d, "text", "request", request_id="full-1")
    assert (rec["level"], rec["status"]) == ("warn", "503")


def test_no_secret_in_logs(make_daemon, tmp_path):
    d = start(make_daemon, tmp_path)
    bearer = {"Authorization": "Bearer " + TOKEN}
    code, h, _ = tcp_exchange(d.port, "GET", "/?token=" + TOKEN)
    assert code == 303
    cookie_value = h["set-cookie"].split(";")[0].split("=", 1)[1]
    cookie = {"Cookie": "slotbox_token=" + cookie_value}
    assert tcp_exchange(d.port, "GET", "/v1/status", headers=cookie)[0] == 200
    assert tcp_exchange(d.port, "GET", "/?token=wrong-" + TOKEN)[0] == 401
    assert tcp_exchange(d.port, "GET", "/v1/health",
                        headers={"Authorization": "Bearer x" + TOKEN})[0] == 401
    code, _, body = tcp_exchange(d.port, "POST", "/v1/slots",
                                 {"trajectory_id": "t"}, headers=bearer)
    assert code == 201
    slot = json.loads(body)["slot_id"]
    ex = "/v1/slots/%s/exec" % slot
    code, _, body = tcp_exchange(d.port, "POST", ex, {
        "tool": "bash", "args": {"command": "echo %s; echo $API_TOKEN $MY_KEY $C" % BODY,
                                 "env": {"C": CALL_ENV}}}, headers=bearer)
    out = json.loads(body)["metadata"]["stdout"]
    assert out == "%s\n%s %s %s\n" % (BODY, SECRET, ENV_VALUE, CALL_ENV)
    tcp_exchange(d.port, "POST", ex, {"tool": "write_file", "args": {
        "path": "f", "content": BODY + "-file"}}, headers=bearer)
    tcp_exchange(d.port, "PUT", "/v1/slots/%s/file?path=g&secret=%s" % (slot, BODY),
                 (BODY + "-put").encode(), headers=bearer)
    tcp_exchange(d.port, "POST", ex, {"tool": "bash", "args": {
        "command": "sleep 3"}, "timeout_s": 0.1}, headers=bearer)
    tcp_exchange(d.port, "POST", ex, b'{"tool": "bash", "args": {"command": "' +
                 BODY.encode() + b'"', headers=bearer)  # malformed JSON
    tcp_exchange(d.port, "DELETE", "/v1/slots/" + slot, headers=bearer)
    d.stop()
    log = d.read_log()
    assert "event=request" in log and "event=slot_released" in log
    for secret in (TOKEN, cookie_value, SECRET, ENV_VALUE, CALL_ENV, BODY):
        assert secret not in log, secret


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_journald_prefixes(make_daemon, tmp_path, fmt):
    d = start(make_daemon, tmp_path, fmt, journal="")
    c = d.client()
    api(c, "POST", "/v1/slots", {}, 201)
    api(c, "POST", "/v1/slots", {}, 201)
    unix_exchange(d.socket, "POST", "/v1/slots", {"timeout_s": 0.1},
                  headers={"X-Request-Id": "full-2"})
    wait_for(d, fmt, "request", request_id="full-2")
    recs = events(d, fmt)
    prio = {"debug": "7", "info": "6", "warn": "4", "error": "3"}
    for r in recs:
        assert r["_prio"] == prio[r["level"]], r
    assert {"7", "6", "4"} <= {r["_prio"] for r in recs}
    lines = d.read_log().splitlines()
    if fmt == "text":  # journald stamps the lines itself
        assert all(re.match(r"^<\d>level=\w+ event=", line) for line in lines), lines
    else:
        assert all(re.match(r"^<\d>\{", line) for line in lines), lines
        assert all("ts" in r for r in recs)


def test_journal_stream_of_another_file_is_ignored(make_daemon, tmp_path):
    # inherited from a systemd unit while stderr goes elsewhere: plain lines
    d = start(make_daemon, tmp_path, journal="1:1")
    lines = d.read_log().splitlines()
    assert lines and all(line.startswith("ts=") for line in lines), lines[:3]
