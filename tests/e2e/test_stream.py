# SPDX-License-Identifier: Apache-2.0
"""End-to-end tests of streamed exec (API.md 1.1, issue 21): "stream": true
answers NDJSON, chunked, one event per chunk of output as the command
writes it, then the result. Early arrival is judged against the command's
own sleeps (an event that arrives a sleep before the result did not wait
for the end), never against an absolute latency."""
import base64
import time
import uuid

from conftest import api
from sbstream import events, open_stream, stream_exec
from test_processes import host_pids

SLEEP = 1.5
GONE_WITHIN_S = 10  # a generous bound for "never", not a timing figure

CAPPED = """
profiles:
  default:
    slots_per_sandbox: 1
    min_sandboxes: 1
    max_sandboxes: 1
    output_limit_bytes: 4096
"""

BIG = """
profiles:
  default:
    slots_per_sandbox: 1
    min_sandboxes: 1
    max_sandboxes: 1
    output_limit_bytes: 1073741824
"""


def acquire(client):
    return api(client, "POST", "/v1/slots", {}, 201)["slot_id"]


def output_of(evs, kind):
    """The bytes of one stream, events decoded and joined in order."""
    out = b""
    for _, e in evs:
        if e["type"] == kind:
            if e.get("encoding") == "base64":
                out += base64.b64decode(e["data"])
            else:
                out += e["data"].encode()
    return out


def test_events_arrive_early_and_in_order(daemon, client):
    sid = acquire(client)
    t0 = time.monotonic()
    status, hdrs, evs = stream_exec(
        daemon.socket, sid, f"echo first; sleep {SLEEP}; echo second; "
        "echo oops >&2; exit 3")
    assert status == 200
    assert hdrs["Content-Type"] == "application/x-ndjson"
    assert hdrs["Transfer-Encoding"] == "chunked"
    assert hdrs["X-Execution-Id"]
    kinds = [e["type"] for _, e in evs]
    assert kinds[-1] == "result" and kinds.count("result") == 1
    t_first = next(t for t, e in evs if e["type"] == "stdout")
    t_end = evs[-1][0]
    # "first" was sent while the command still slept: it arrived at least
    # most of that sleep before the result did.
    assert t_end - t_first > SLEEP * 0.6, (t_first - t0, t_end - t0)
    assert output_of(evs, "stdout") == b"first\nsecond\n"
    assert output_of(evs, "stderr") == b"oops\n"
    res = evs[-1][1]["result"]
    assert res["metadata"]["returncode"] == 3
    assert res["metadata"]["error_class"] == "task"
    assert res["execution_id"] == hdrs["X-Execution-Id"]
    # the result is the same ExecutionResult a plain call answers
    assert res["metadata"]["stdout"] == "first\nsecond\n"
    assert res["metadata"]["stderr"] == "oops\n"


def test_many_chunks_keep_their_order(daemon, client):
    sid = acquire(client)
    cmd = "for i in $(seq 1 300); do echo line$i; sleep 0.001; done"
    _, _, evs = stream_exec(daemon.socket, sid, cmd)
    want = "".join(f"line{i}\n" for i in range(1, 301)).encode()
    assert output_of(evs, "stdout") == want
    assert len([e for _, e in evs if e["type"] == "stdout"]) > 1


def test_merged_output_streams_in_write_order(daemon, client):
    sid = acquire(client)
    cmd = "echo 1; sleep 0.05; echo 2 >&2; sleep 0.05; echo 3"
    _, _, evs = stream_exec(daemon.socket, sid, cmd)
    assert output_of(evs, "stdout") == b"1\n3\n"
    _, _, evs = api_merged(daemon, sid, cmd)
    assert output_of(evs, "stdout") == b"1\n2\n3\n"
    assert output_of(evs, "stderr") == b""


def api_merged(daemon, sid, cmd):
    conn, resp = open_stream(daemon.socket, "POST", f"/v1/slots/{sid}/exec",
                             {"tool": "bash", "stream": True,
                              "args": {"command": cmd, "merge_output": True}})
    try:
        return resp.status, None, list(events(resp))
    finally:
        conn.close()


def test_binary_output_is_base64_and_split_utf8_stays_text(daemon, client):
    sid = acquire(client)
    _, _, evs = stream_exec(daemon.socket, sid, r"printf 'a\xff\xfe\x00b'")
    assert output_of(evs, "stdout") == b"a\xff\xfe\x00b"
    assert any(e.get("encoding") == "base64" for _, e in evs)
    # an "é" whose two bytes the command writes 0.3 s apart: held back,
    # then sent whole as text
    _, _, evs = stream_exec(daemon.socket, sid,
                            r"printf 'x\xc3'; sleep 0.3; printf '\xa9y\n'")
    outs = [e for _, e in evs if e["type"] == "stdout"]
    assert all("encoding" not in e for e in outs), outs
    assert "".join(e["data"] for e in outs) == "x\u00e9y\n"
    assert len(outs) == 2, outs  # two reads: "x", then "éy\n"


def test_cap_applies_and_sets_truncated(make_daemon):
    d = make_daemon(CAPPED)
    c = d.client()
    sid = acquire(c)
    _, _, evs = stream_exec(d.socket, sid,
                            "head -c 100000 /dev/zero | tr '\\0' a; echo e >&2")
    assert output_of(evs, "stdout") == b"a" * 4096
    assert output_of(evs, "stderr") == b"e\n"
    res = evs[-1][1]["result"]
    assert res["metadata"]["truncated"] is True
    assert res["metadata"]["returncode"] == 0


def wait_for(pred, within):
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.05)
    return pred()


def test_disconnect_mid_stream_cancels(daemon, client):
    sid = acquire(client)
    mark = "sbxmark" + uuid.uuid4().hex[:12]
    conn, resp = open_stream(daemon.socket, "POST", f"/v1/slots/{sid}/exec",
                             {"tool": "bash", "stream": True, "args": {
                                 "command": f"echo started; exec -a {mark} sleep 60"}})
    first = next(events(resp))[1]
    assert first == {"type": "stdout", "data": "started\n"}
    assert wait_for(lambda: host_pids(mark), GONE_WITHIN_S)
    conn.close()
    assert wait_for(lambda: not host_pids(mark), GONE_WITHIN_S)
    # the slot goes on serving calls
    r = api(client, "POST", f"/v1/slots/{sid}/exec",
            {"tool": "bash", "args": {"command": "echo ok"}}, 200)
    assert r["output"] == "ok\n"


def test_slow_reader_costs_bounded_memory(make_daemon):
    """A command that writes as fast as it can to a client that reads
    nothing: the daemon stops reading the pipe (the command blocks), so
    its memory does not grow with what the command would write."""
    d = make_daemon(BIG)
    c = d.client()
    sid = acquire(c)
    base = d.rss_kib()
    conn, resp = open_stream(d.socket, "POST", f"/v1/slots/{sid}/exec",
                             {"tool": "bash", "stream": True, "args": {
                                 "command": "head -c 500000000 /dev/zero | tr '\\0' a"}})
    assert resp.status == 200
    with d.peak_rss() as w:
        time.sleep(3)  # the producer would write hundreds of MiB by now
    grown_kib = w.kib - base
    assert grown_kib < 48 * 1024, grown_kib
    conn.close()
    # the call was cancelled with its client; the daemon serves on
    r = api(c, "POST", f"/v1/slots/{sid}/exec",
            {"tool": "bash", "args": {"command": "echo ok"}}, 200)
    assert r["output"] == "ok\n"


def test_bad_stream_requests(daemon, client):
    sid = acquire(client)
    api(client, "POST", f"/v1/slots/{sid}/exec",
        {"tool": "bash", "stream": "yes", "args": {"command": "true"}}, 400)
    api(client, "POST", f"/v1/slots/{sid}/exec",
        {"tool": "read_file", "stream": True, "args": {"path": "x"}}, 400)
    # a refused call is a plain JSON error, not a stream
    st, _, body = stream_exec(daemon.socket, sid, None)
    assert st == 400 and body["error"]["code"] == "bad_request"
    # stream: false is a plain call
    r = api(client, "POST", f"/v1/slots/{sid}/exec",
            {"tool": "bash", "stream": False, "args": {"command": "echo a"}}, 200)
    assert r["output"] == "a\n"
