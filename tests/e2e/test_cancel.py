# SPDX-License-Identifier: Apache-2.0
"""End-to-end tests of issue 18's cancel (API.md 1.1, Exec): a client that
closes its connection before its answer cancels its call, DELETE
/v1/executions/{id} cancels one explicitly, client-named execution ids,
and the slot's list of running calls. "Gone" is checked from the host
(every process whose argv[0] carries the test's marker) and from inside
the slot (a second call that looks at the slot's own /proc)."""
import json
import os
import socket
import threading
import time
import uuid

import pytest

from conftest import api

# Long enough that only a kill ends it within the test.
LONG = 60
GONE_WITHIN_S = 10  # a generous bound for "never", not a timing figure


def marker():
    return "sbxmark" + uuid.uuid4().hex[:12]


def tree_command(mark):
    """A call whose tree has a foreground process, a background child and a
    child in a session of its own (setsid), each with argv[0] = mark."""
    return (f"(exec -a {mark} sleep {LONG}) & "
            f"setsid bash -c 'exec -a {mark} sleep {LONG}' & "
            f"exec -a {mark} sleep {LONG}")


def host_pids(mark):
    """Pids on the host whose argv[0] is mark."""
    found = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/cmdline", "rb") as f:
                argv0 = f.read().split(b"\0")[0]
        except OSError:
            continue
        if argv0 == mark.encode():
            found.append(int(d))
    return found


def wait_for(pred, within):
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.02)
    return pred()


def slot_sees(client, sid, mark):
    """How many processes the slot itself sees with argv[0] = mark (the
    bracket keeps the looking command from matching itself)."""
    pat = mark[:-1] + "[" + mark[-1] + "]"
    r = api(client, "POST", f"/v1/slots/{sid}/exec",
            {"tool": "bash", "args": {"command":
             f"cat /proc/[0-9]*/cmdline 2>/dev/null | tr '\\0' '\\n' | "
             f"grep -c '^{pat}$' || true"}}, 200)
    return int(r["metadata"]["stdout"].strip() or "0")


def raw_post(sock_path, path, body):
    """Send one POST on a fresh connection and return the open socket
    without reading the answer."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(sock_path)
    data = json.dumps(body).encode()
    s.sendall(f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
              f"Content-Length: {len(data)}\r\n\r\n".encode() + data)
    return s


def acquire(client):
    return api(client, "POST", "/v1/slots", {}, 201)["slot_id"]


def exec_in_thread(daemon, sid, body):
    """Run one exec on its own connection in a thread; the result dict gets
    status, headers and the parsed body."""
    from sbhttp import unix_exchange
    out = {}

    def run():
        st, hdrs, data = unix_exchange(daemon.socket, "POST", f"/v1/slots/{sid}/exec",
                                       body, {"Content-Type": "application/json"})
        out.update(status=st, headers=hdrs, body=json.loads(data))

    t = threading.Thread(target=run)
    t.start()
    return t, out


def running_ids(client, sid):
    return [e["execution_id"] for e in api(client, "GET", f"/v1/slots/{sid}", status=200)["executions"]]


def test_disconnect_kills_the_calls_tree(daemon, client):
    sid = acquire(client)
    mark = marker()
    s = raw_post(daemon.socket, f"/v1/slots/{sid}/exec",
                 {"tool": "bash", "args": {"command": tree_command(mark)}})
    try:
        assert wait_for(lambda: len(host_pids(mark)) == 3, 30), host_pids(mark)
        assert slot_sees(client, sid, mark) == 3
    finally:
        s.close()
    t0 = time.monotonic()
    gone = wait_for(lambda: not host_pids(mark), GONE_WITHIN_S)
    print(f"\ntree gone {time.monotonic() - t0:.3f} s after the disconnect")
    assert gone, f"processes of the disconnected call live on: {host_pids(mark)}"
    assert slot_sees(client, sid, mark) == 0
    assert wait_for(lambda: running_ids(client, sid) == [], 5)
    log = [line for line in daemon.read_log().splitlines() if "exec_cancelled" in line]
    assert len(log) == 1 and "by=disconnect" in log[0] and sid in log[0], log
    # the slot serves the next call as before
    r = api(client, "POST", f"/v1/slots/{sid}/exec",
            {"tool": "bash", "args": {"command": "echo still-here"}}, 200)
    assert r["output"] == "still-here\n"


def test_delete_cancels_a_named_call(daemon, client):
    sid = acquire(client)
    mark = marker()
    t, out = exec_in_thread(daemon, sid, {"tool": "bash", "execution_id": "cancel-me.1",
                                          "args": {"command": tree_command(mark)}})
    assert wait_for(lambda: len(host_pids(mark)) == 3, 30)
    listed = api(client, "GET", f"/v1/slots/{sid}", status=200)["executions"]
    assert [e["execution_id"] for e in listed] == ["cancel-me.1"]
    assert listed[0]["tool"] == "bash" and listed[0]["started_at"].endswith("Z")
    got = api(client, "GET", "/v1/executions/cancel-me.1", status=200)
    assert got["slot_id"] == sid and got["cancelling"] is False
    api(client, "DELETE", "/v1/executions/cancel-me.1", status=202)
    t.join(GONE_WITHIN_S)
    assert not t.is_alive(), "the cancelled call did not answer"
    assert out["status"] == 200
    assert out["headers"]["x-execution-id"] == "cancel-me.1"
    r = out["body"]
    assert r["success"] is False and r["execution_id"] == "cancel-me.1"
    assert r["metadata"]["error_class"] == "cancelled", r
    assert r["metadata"]["returncode"] != 0
    assert wait_for(lambda: not host_pids(mark), GONE_WITHIN_S), host_pids(mark)
    assert slot_sees(client, sid, mark) == 0
    # finished: the id is forgotten (404), and free to be used again
    api(client, "DELETE", "/v1/executions/cancel-me.1", status=404)
    api(client, "GET", "/v1/executions/cancel-me.1", status=404)
    r = api(client, "POST", f"/v1/slots/{sid}/exec",
            {"tool": "bash", "execution_id": "cancel-me.1", "args": {"command": "true"}}, 200)
    assert r["success"] is True and r["execution_id"] == "cancel-me.1"
    m = client.request("GET", "/metrics")[1].decode()
    assert 'tool="bash",error_class="cancelled"} 1' in m


def test_unknown_and_finished_ids_are_404(client):
    sid = acquire(client)
    for path in ("/v1/executions/nope", "/v1/executions/bad%20id",
                 "/v1/executions/" + "x" * 65):
        e = api(client, "DELETE", path, status=404)
        assert e["error"]["code"] == "not_found"
    r = api(client, "POST", f"/v1/slots/{sid}/exec",
            {"tool": "bash", "args": {"command": "true"}}, 200)
    # a finished call cannot be cancelled: its id is no longer known
    api(client, "DELETE", "/v1/executions/" + r["execution_id"], status=404)
    e = api(client, "PUT", "/v1/executions/nope", {}, status=405)
    assert e["error"]["code"] == "method_not_allowed"


def test_daemon_named_ids_are_headers_and_results(daemon):
    from sbhttp import unix_exchange
    c = daemon.client()
    sid = acquire(c)
    st, hdrs, data = unix_exchange(daemon.socket, "POST", f"/v1/slots/{sid}/exec",
                                   {"tool": "bash", "args": {"command": "true"}})
    r = json.loads(data)
    assert st == 200 and hdrs["x-execution-id"] == r["execution_id"]
    assert len(r["execution_id"]) == 32


@pytest.mark.parametrize("bad", ["", "x" * 65, "has space", "sl/ash", "ünï", 5, True, ["a"]])
def test_bad_execution_ids_are_400(client, bad):
    sid = acquire(client)
    e = api(client, "POST", f"/v1/slots/{sid}/exec",
            {"tool": "bash", "execution_id": bad, "args": {"command": "true"}}, 400)
    assert e["error"]["code"] == "bad_request" and "execution_id" in e["error"]["message"]
    # in a batch the bad call fails alone
    res = api(client, "POST", "/v1/exec", {"requests": [
        {"slot_id": sid, "tool": "bash", "execution_id": bad, "args": {"command": "true"}},
        {"slot_id": sid, "tool": "bash", "args": {"command": "echo ok"}}]}, 200)["results"]
    assert res[0]["success"] is False and res[0]["metadata"]["error_code"] == "bad_request"
    assert res[1]["success"] is True and res[1]["output"] == "ok\n"


def test_a_running_id_cannot_be_reused(daemon, client):
    sid = acquire(client)
    mark = marker()
    t, out = exec_in_thread(daemon, sid, {"tool": "bash", "execution_id": "dup",
                                          "args": {"command": f"exec -a {mark} sleep {LONG}"}})
    assert wait_for(lambda: host_pids(mark), 30)
    e = api(client, "POST", f"/v1/slots/{sid}/exec",
            {"tool": "bash", "execution_id": "dup", "args": {"command": "echo no"}}, 409)
    assert e["error"]["code"] == "execution_id_in_use"
    # not in a batch either, nor twice in one batch: only those calls fail
    res = api(client, "POST", "/v1/exec", {"requests": [
        {"slot_id": sid, "tool": "bash", "execution_id": "dup", "args": {"command": "echo a"}},
        {"slot_id": sid, "tool": "bash", "execution_id": "twice", "args": {"command": "echo b"}},
        {"slot_id": sid, "tool": "bash", "execution_id": "twice", "args": {"command": "echo c"}},
    ]}, 200)["results"]
    assert res[0]["metadata"]["error_code"] == "execution_id_in_use"
    assert res[1]["success"] is True and res[1]["execution_id"] == "twice"
    assert res[2]["metadata"]["error_code"] == "execution_id_in_use"
    assert res[2]["metadata"]["error_class"] == "task"
    api(client, "DELETE", "/v1/executions/dup", status=202)
    t.join(GONE_WITHIN_S)
    assert out["body"]["metadata"]["error_class"] == "cancelled"
    # the one being cancelled was not disturbed by the refused ones
    assert wait_for(lambda: not host_pids(mark), GONE_WITHIN_S)


def test_cancel_one_call_of_a_batch(daemon, client):
    a, b = acquire(client), acquire(client)
    mark = marker()
    from sbhttp import unix_exchange
    out = {}

    def run():
        st, _, data = unix_exchange(daemon.socket, "POST", "/v1/exec", {"requests": [
            {"slot_id": a, "tool": "bash", "execution_id": "batch-long",
             "args": {"command": tree_command(mark)}},
            {"slot_id": b, "tool": "bash", "execution_id": "batch-short",
             "args": {"command": "sleep 1; echo done"}},
        ]}, {"Content-Type": "application/json"})
        out.update(status=st, body=json.loads(data))

    t = threading.Thread(target=run)
    t.start()
    assert wait_for(lambda: len(host_pids(mark)) == 3, 30)
    assert running_ids(client, a) == ["batch-long"]
    api(client, "DELETE", "/v1/executions/batch-long", status=202)
    t.join(GONE_WITHIN_S)
    assert not t.is_alive()
    long_r, short_r = out["body"]["results"]
    assert long_r["metadata"]["error_class"] == "cancelled" and not long_r["success"]
    assert short_r["success"] is True and short_r["output"] == "done\n"
    assert wait_for(lambda: not host_pids(mark), GONE_WITHIN_S)


def test_closing_a_batch_cancels_all_its_calls(daemon, client):
    a, b = acquire(client), acquire(client)
    marks = [marker(), marker()]
    s = raw_post(daemon.socket, "/v1/exec", {"requests": [
        {"slot_id": a, "tool": "bash", "args": {"command": tree_command(marks[0])}},
        {"slot_id": b, "tool": "bash", "args": {"command": tree_command(marks[1])}},
        {"slot_id": b, "tool": "read_file", "args": {"path": "nothing-here"}},
    ]})
    try:
        assert wait_for(lambda: all(len(host_pids(m)) == 3 for m in marks), 30)
    finally:
        s.close()
    assert wait_for(lambda: not any(host_pids(m) for m in marks), GONE_WITHIN_S), \
        [host_pids(m) for m in marks]
    assert slot_sees(client, a, marks[0]) == 0 and slot_sees(client, b, marks[1]) == 0
    assert wait_for(lambda: running_ids(client, a) == running_ids(client, b) == [], 5)


def test_file_tools_are_named_and_cancel_safe(daemon, client):
    sid = acquire(client)
    r = api(client, "POST", f"/v1/slots/{sid}/exec",
            {"tool": "write_file", "execution_id": "w-1",
             "args": {"path": "f.txt", "content": "hello"}}, 200)
    assert r["success"] is True and r["execution_id"] == "w-1"
    r = api(client, "POST", f"/v1/slots/{sid}/exec",
            {"tool": "read_file", "execution_id": "r-1", "args": {"path": "f.txt"}}, 200)
    assert r["output"] == "hello" and r["execution_id"] == "r-1"
    # a file tool whose client goes away at once: the daemon stays sound,
    # the id is forgotten, the slot serves on
    for i in range(20):
        s = raw_post(daemon.socket, f"/v1/slots/{sid}/exec",
                     {"tool": "write_file", "execution_id": f"gone-{i}",
                      "args": {"path": f"g{i}.txt", "content": "x" * 100000}})
        s.close()
    assert wait_for(lambda: running_ids(client, sid) == [], 10)
    r = api(client, "POST", f"/v1/slots/{sid}/exec",
            {"tool": "read_file", "args": {"path": "f.txt"}}, 200)
    assert r["output"] == "hello"


def test_cli_exec_id_merge_and_cancel(daemon, client):
    import subprocess
    from conftest import BUILD
    sb = [os.path.join(BUILD, "slotbox"), "--socket", daemon.socket]
    sid = acquire(client)
    p = subprocess.run(sb + ["exec", "--merge", sid, "-c", "echo a; echo b >&2; echo c"],
                       capture_output=True, timeout=60)
    assert p.returncode == 0 and p.stdout == b"a\nb\nc\n" and p.stderr == b""
    mark = marker()
    run = subprocess.Popen(sb + ["exec", "--id", "cli-call", sid, "-c",
                                 f"exec -a {mark} sleep {LONG}"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert wait_for(lambda: host_pids(mark), 30)
        p = subprocess.run(sb + ["cancel", "cli-call"], capture_output=True, timeout=60)
        assert p.returncode == 0, p.stderr
        out, err = run.communicate(timeout=GONE_WITHIN_S)
    finally:
        if run.poll() is None:
            run.kill()
    assert run.returncode == 130 and b"cancelled" in err, (run.returncode, err)
    assert not host_pids(mark)
    p = subprocess.run(sb + ["cancel", "cli-call"], capture_output=True, timeout=60)
    assert p.returncode == 125 and b"not_found" in p.stderr or b"no running call" in p.stderr, p.stderr


def test_disconnect_over_tcp_cancels_too(make_daemon, tmp_path):
    import re
    token = tmp_path / "token"
    token.write_text("cancel-tcp-token-0123456789\n")
    token.chmod(0o600)  # a token others can read is refused
    d = make_daemon("""
profiles:
  default:
    slots_per_sandbox: 1
    min_sandboxes: 1
    max_sandboxes: 1
""", args=["--listen", "tcp://127.0.0.1:0", "--token-file", str(token)])
    port = int(re.search(r"listening.*?port\W+(\d+)", d.read_log()).group(1))
    c = d.client()
    sid = acquire(c)
    mark = marker()
    body = json.dumps({"tool": "bash", "args": {"command": tree_command(mark)}}).encode()
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(f"POST /v1/slots/{sid}/exec HTTP/1.1\r\nHost: x\r\n"
              f"Authorization: Bearer cancel-tcp-token-0123456789\r\n"
              f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode()
              + body)
    try:
        assert wait_for(lambda: len(host_pids(mark)) == 3, 30), host_pids(mark)
    finally:
        s.close()
    assert wait_for(lambda: not host_pids(mark), GONE_WITHIN_S), host_pids(mark)
    assert slot_sees(c, sid, mark) == 0
