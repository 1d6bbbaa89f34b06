# SPDX-License-Identifier: Apache-2.0
"""End-to-end tests of background processes (API.md 1.1 "Processes", issue
21): a process started with a handle outlives the call that started it,
takes stdin, is signalled, read by offset (long-poll and NDJSON stream),
listed and deleted, and dies with its lease (release, reset, TTL expiry).
"Dead" is checked from the host: no process left whose argv[0] carries the
test's marker."""
import base64
import json
import os
import time
import uuid

import pytest

from conftest import api
from sbstream import events, open_stream

GONE_WITHIN_S = 10  # a generous bound for "never", not a timing figure


def marker():
    return "sbxproc" + uuid.uuid4().hex[:12]


def host_pids(mark):
    found = []
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                with open(f"/proc/{p}/cmdline", "rb") as f:
                    if f.read().split(b"\0")[0] == mark.encode():
                        found.append(int(p))
            except OSError:
                pass
    return found


def wait_for(pred, within=GONE_WITHIN_S):
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.05)
    return pred()


def acquire(client, **body):
    return api(client, "POST", "/v1/slots", body, 201)["slot_id"]


def start(client, sid, command, status=201, **body):
    return api(client, "POST", f"/v1/slots/{sid}/processes",
               {"command": command, **body}, status)


def output(client, sid, pid, since=0, wait_s=0, status=200):
    return api(client, "GET", f"/v1/slots/{sid}/processes/{pid}/output"
               f"?since={since}&wait_s={wait_s}", None, status)


def read_until(client, sid, pid, pred, within=GONE_WITHIN_S):
    """Long-poll from offset 0 until pred(stdout, answer) holds (or the
    process ended); returns (stdout, stderr, last answer)."""
    out, err, since = "", "", 0
    deadline = time.monotonic() + within
    while True:
        r = output(client, sid, pid, since, wait_s=2)
        out += r["stdout"]
        err += r["stderr"]
        since = r["next"]
        if pred(out, r) or not r["running"] and r["next"] == since \
                and not r["stdout"] and not r["stderr"] \
                or time.monotonic() > deadline:
            return out, err, r


def wait_exit(client, sid, pid):
    return read_until(client, sid, pid, lambda o, r: not r["running"])


def sleeper(mark):
    return f"exec -a {mark} sleep 300"


def test_survives_between_calls_and_dies_with_release(client):
    sid = acquire(client)
    mark = marker()
    p = start(client, sid, sleeper(mark))
    assert set(p) == {"process_id", "pid"} and p["pid"] > 0
    assert wait_for(lambda: host_pids(mark))
    # other calls come and go; the process runs on, seen in the slot
    r = api(client, "POST", f"/v1/slots/{sid}/exec", {"tool": "bash", "args": {
        "command": f"kill -0 {p['pid']} && tr '\\0' ' ' < /proc/{p['pid']}/cmdline"}}, 200)
    assert r["metadata"]["returncode"] == 0 and mark in r["output"]
    lst = api(client, "GET", f"/v1/slots/{sid}/processes", None, 200)["processes"]
    assert [x["process_id"] for x in lst] == [p["process_id"]]
    assert lst[0]["running"] is True and lst[0]["exit_code"] is None
    assert lst[0]["command"] == sleeper(mark)
    assert host_pids(mark)
    api(client, "DELETE", f"/v1/slots/{sid}?reset=false", None, 204)
    assert wait_for(lambda: not host_pids(mark))
    # the ended lease's processes are out of reach
    api(client, "GET", f"/v1/slots/{sid}/processes", None, 409)


def test_dies_with_reset_and_next_lease_sees_none(client):
    sid = acquire(client)
    mark = marker()
    start(client, sid, sleeper(mark))
    assert wait_for(lambda: host_pids(mark))
    api(client, "DELETE", f"/v1/slots/{sid}?reset=true", None, 204)
    assert wait_for(lambda: not host_pids(mark))
    sid2 = acquire(client)
    assert api(client, "GET", f"/v1/slots/{sid2}/processes", None, 200) == {
        "processes": []}


def test_dies_when_the_lease_expires(client):
    sid = acquire(client, ttl_s=1)
    mark = marker()
    start(client, sid, sleeper(mark))
    assert wait_for(lambda: host_pids(mark))
    # a running process does not keep the lease alive: no calls, it expires
    assert wait_for(lambda: not host_pids(mark), 30)
    api(client, "GET", f"/v1/slots/{sid}/processes", None, 409)


def test_stdin_round_trips_and_eof_ends_it(client):
    sid = acquire(client)
    p = start(client, sid, "cat; echo done-$?")["process_id"]
    code, _ = client.request("POST", f"/v1/slots/{sid}/processes/{p}/stdin",
                             b"hello\n", raw=True)
    assert code == 204
    out, _, r = read_until(client, sid, p, lambda o, r: "hello\n" in o)
    assert out == "hello\n" and r["running"] is True and r["next"] == 6
    code, _ = client.request("POST", f"/v1/slots/{sid}/processes/{p}/stdin?eof=true",
                             b"\x00bin", raw=True)
    assert code == 204
    out, _, r = wait_exit(client, sid, p)
    assert out == "hello\n\x00bindone-0\n"
    assert r["exit_code"] == 0 and r["running"] is False
    # stdin is closed now
    code, body = client.request("POST", f"/v1/slots/{sid}/processes/{p}/stdin",
                                b"more", raw=True)
    assert code == 409 and json.loads(body)["error"]["code"] == "stdin_closed"


def test_exit_code_offsets_and_streams(client):
    sid = acquire(client)
    p = start(client, sid, "echo out1; echo err1 >&2; sleep 0.2; echo out2; exit 42")
    pid = p["process_id"]
    out, err, r = wait_exit(client, sid, pid)
    assert out == "out1\nout2\n" and err == "err1\n"
    assert r["exit_code"] == 42
    full = output(client, sid, pid)
    assert full["next"] == len("out1\nerr1\nout2\n")
    assert full["stdout"] == "out1\nout2\n" and full["stderr"] == "err1\n"
    # since counts bytes of stdout and stderr together, in order
    part = output(client, sid, pid, since=len("out1\n"))
    assert part["stdout"] == "out2\n" and part["stderr"] == "err1\n"
    part = output(client, sid, pid, since=len("out1\nerr1\n"))
    assert part["stdout"] == "out2\n" and part["stderr"] == ""
    assert output(client, sid, pid, since=full["next"])["stdout"] == ""
    lst = api(client, "GET", f"/v1/slots/{sid}/processes", None, 200)["processes"]
    assert lst[0]["exit_code"] == 42 and lst[0]["ended_at"] >= lst[0]["started_at"]


def test_long_poll_waits_for_output(client):
    sid = acquire(client)
    pid = start(client, sid, "sleep 1; echo late; sleep 300")["process_id"]
    assert output(client, sid, pid, wait_s=0)["stdout"] == ""
    t0 = time.monotonic()
    r = output(client, sid, pid, wait_s=20)
    # answered by the output, not by the 20 s wait running out
    assert r["stdout"] == "late\n" and r["running"] is True
    assert time.monotonic() - t0 < 20
    api(client, "DELETE", f"/v1/slots/{sid}/processes/{pid}", None, 204)


@pytest.mark.parametrize("sig,code", [("TERM", -15), ("KILL", -9), ("HUP", -1)])
def test_signals_end_it(client, sig, code):
    sid = acquire(client)
    pid = start(client, sid, "exec sleep 300")["process_id"]
    api(client, "POST", f"/v1/slots/{sid}/processes/{pid}/signal",
        {"signal": sig}, 204)
    _, _, r = wait_exit(client, sid, pid)
    assert r["exit_code"] == code
    api(client, "POST", f"/v1/slots/{sid}/processes/{pid}/signal",
        {"signal": sig}, 409)


def test_int_reaches_the_process_group(client):
    sid = acquire(client)
    cmd = "trap 'echo got-int; exit 7' INT; echo ready; while :; do sleep 0.1; done"
    pid = start(client, sid, cmd)["process_id"]
    read_until(client, sid, pid, lambda o, r: "ready" in o)
    api(client, "POST", f"/v1/slots/{sid}/processes/{pid}/signal",
        {"signal": "INT"}, 204)
    out, _, r = wait_exit(client, sid, pid)
    assert "got-int" in out and r["exit_code"] == 7


def test_bad_requests(client):
    sid = acquire(client)
    pid = start(client, sid, "sleep 300")["process_id"]
    code, body = client.request("POST", f"/v1/slots/{sid}/processes/{pid}/stdin",
                                b"x" * (1024 * 1024 + 1), raw=True)
    assert code == 413, body
    # a process that reads nothing: stdin queues up to its bound, then 429
    codes = [client.request("POST", f"/v1/slots/{sid}/processes/{pid}/stdin",
                            b"y" * (1024 * 1024), raw=True)[0] for _ in range(4)]
    assert codes[0] == 204 and 429 in codes, codes
    for bad in ({"signal": "BOGUS"}, {"signal": 9}, {}):
        r = api(client, "POST", f"/v1/slots/{sid}/processes/{pid}/signal", bad, 400)
        assert r["error"]["code"] == "bad_request"
    r = api(client, "GET", f"/v1/slots/{sid}/processes/nope/output", None, 404)
    assert r["error"]["code"] == "process_not_found"
    api(client, "POST", f"/v1/slots/{sid}/processes/nope/signal", {"signal": "INT"}, 404)
    api(client, "DELETE", f"/v1/slots/{sid}/processes/nope", None, 404)
    api(client, "GET", f"/v1/slots/{sid}/processes/{pid}/output?since=-1", None, 400)
    api(client, "GET", f"/v1/slots/{sid}/processes/{pid}/output?wait_s=9999", None, 400)
    api(client, "POST", f"/v1/slots/{sid}/processes", {"command": 5}, 400)
    api(client, "POST", f"/v1/slots/{sid}/processes",
        {"command": "true", "pty": {"rows": 0, "cols": 80}}, 400)
    # resize needs a pty
    r = api(client, "POST", f"/v1/slots/{sid}/processes/{pid}/resize",
            {"rows": 10, "cols": 10}, 409)
    assert r["error"]["code"] == "not_a_terminal"
    # the process was not disturbed by any of it
    assert output(client, sid, pid)["running"] is True


def test_delete_kills_its_tree_and_forgets_it(client):
    sid = acquire(client)
    mark = marker()
    pid = start(client, sid, f"(exec -a {mark} sleep 300) & "
                f"setsid bash -c 'exec -a {mark} sleep 300' & wait")["process_id"]
    assert wait_for(lambda: len(host_pids(mark)) == 2)
    api(client, "DELETE", f"/v1/slots/{sid}/processes/{pid}", None, 204)
    assert wait_for(lambda: not host_pids(mark))
    api(client, "GET", f"/v1/slots/{sid}/processes/{pid}/output", None, 404)
    assert api(client, "GET", f"/v1/slots/{sid}/processes", None, 200) == {
        "processes": []}


def test_ring_drops_the_oldest_output(client):
    sid = acquire(client)
    n = 3 * 1024 * 1024
    pid = start(client, sid, f"head -c {n} /dev/zero | tr '\\0' a; echo END")["process_id"]
    wait_exit(client, sid, pid)
    r = output(client, sid, pid)
    assert r["next"] == n + 4
    assert r["dropped"] > 0
    assert r["dropped"] + len(r["stdout"]) == n + 4
    assert r["stdout"].endswith("aaaaEND\n")
    # the daemon kept a bounded ring, not the 3 MiB
    assert len(r["stdout"]) <= 1024 * 1024


def test_too_many_processes(client):
    sid = acquire(client)
    ids = [start(client, sid, "sleep 300")["process_id"] for _ in range(16)]
    r = start(client, sid, "sleep 300", status=429)
    assert r["error"]["code"] == "too_many_processes"
    # an ended one makes room
    api(client, "POST", f"/v1/slots/{sid}/processes/{ids[0]}/signal",
        {"signal": "KILL"}, 204)
    wait_exit(client, sid, ids[0])
    start(client, sid, "true")


def test_stream_output_as_ndjson(daemon, client):
    sid = acquire(client)
    pid = start(client, sid, "echo a; sleep 1.5; printf '\\xff' >&2; echo b; exit 3")["process_id"]
    conn, resp = open_stream(daemon.socket, "GET",
                             f"/v1/slots/{sid}/processes/{pid}/output?stream=true")
    assert resp.status == 200
    assert resp.getheader("Content-Type") == "application/x-ndjson"
    evs = list(events(resp))
    conn.close()
    kinds = [e["type"] for _, e in evs]
    assert kinds[-1] == "result"
    assert evs[-1][1]["result"] == {"exit_code": 3, "next": 5, "dropped": 0}
    first = next(t for t, e in evs if e["type"] == "stdout")
    assert evs[-1][0] - first > 1.0  # "a" came before the sleep ended
    out = "".join(e["data"] for _, e in evs if e["type"] == "stdout")
    assert out == "a\nb\n"
    err = [e for _, e in evs if e["type"] == "stderr"]
    assert err and base64.b64decode(err[0]["data"]) == b"\xff"
    assert err[0]["encoding"] == "base64"
    # from an offset
    conn, resp = open_stream(daemon.socket, "GET",
                             f"/v1/slots/{sid}/processes/{pid}/output?stream=true&since=3")
    evs = list(events(resp))
    conn.close()
    assert [e for _, e in evs if e["type"] == "stdout"] == [{"type": "stdout", "data": "b\n"}]


def test_stream_reader_that_stops_reading_costs_bounded_memory(daemon, client):
    """A fast producer and a stream client that reads nothing: the ring
    keeps 1 MiB and the connection's queue stops at its high-water mark,
    so the daemon does not grow with the 200 MB the process writes."""
    sid = acquire(client)
    base = daemon.rss_kib()
    pid = start(client, sid, "head -c 200000000 /dev/zero | tr '\\0' a; sleep 300")["process_id"]
    conn, resp = open_stream(daemon.socket, "GET",
                             f"/v1/slots/{sid}/processes/{pid}/output?stream=true")
    assert resp.status == 200
    with daemon.peak_rss() as w:
        # a "since" past the end answers no bytes, only where the end is
        assert wait_for(lambda: output(client, sid, pid, since=10**15)["next"]
                        >= 200000000, 120)
    assert output(client, sid, pid, since=10**15)["next"] == 200000000
    grown_kib = w.kib - base
    assert grown_kib < 48 * 1024, grown_kib
    conn.close()
    api(client, "DELETE", f"/v1/slots/{sid}/processes/{pid}", None, 204)


def test_first_stdin_env_cwd_and_merged_output(client):
    sid = acquire(client)
    api(client, "POST", f"/v1/slots/{sid}/exec",
        {"tool": "bash", "args": {"command": "mkdir -p sub"}}, 200)
    pid = start(client, sid, "cat; echo $FOO; pwd; echo e >&2",
                stdin="line\n", env={"FOO": "bar"}, cwd="sub")["process_id"]
    client.request("POST", f"/v1/slots/{sid}/processes/{pid}/stdin?eof=true", b"", raw=True)
    out, err, r = wait_exit(client, sid, pid)
    assert out.splitlines()[:2] == ["line", "bar"] and out.endswith("/sub\n")
    assert err == "e\n" and r["exit_code"] == 0
    pid = start(client, sid, "echo a; echo b >&2; echo c", merge_output=True)["process_id"]
    out, err, r = wait_exit(client, sid, pid)
    assert out == "a\nb\nc\n" and err == ""
    r = start(client, sid, "cat", status=400, stdin="x", pty=True)
    assert "stdin" in r["error"]["message"]


SMALL = """
profiles:
  default:
    slots_per_sandbox: 1
    min_sandboxes: 1
    max_sandboxes: 1
    max_processes: 2
    process_output_bytes: 4096
"""


def test_profile_bounds_processes_and_ring(make_daemon):
    d = make_daemon(SMALL)
    c = d.client()
    prof = api(c, "GET", "/v1/profiles", None, 200)["profiles"]["default"]
    assert prof["max_processes"] == 2 and prof["process_output_bytes"] == 4096
    sid = acquire(c)
    a = start(c, sid, "sleep 300")["process_id"]
    pid = start(c, sid, "seq 1 10000; sleep 300")["process_id"]
    r = start(c, sid, "true", status=429)
    assert "max_processes" in r["error"]["message"]
    want = "".join(f"{i}\n" for i in range(1, 10001))
    assert wait_for(lambda: output(c, sid, pid, since=10**15)["next"] == len(want))
    r = output(c, sid, pid)
    # the ring kept the last 4096 bytes; the rest is counted as dropped
    assert r["dropped"] == len(want) - 4096 and r["stdout"] == want[-4096:]
    r = output(c, sid, pid, since=len(want) - 10)
    assert r["dropped"] == 0 and r["stdout"] == want[-10:]
    api(c, "DELETE", f"/v1/slots/{sid}/processes/{a}", None, 204)
    start(c, sid, "true")


def test_after_a_daemon_restart(make_daemon):
    """The daemon is killed (sandboxes kept) and restarted: the processes
    of the lost daemon end with their calls' channel, and the adopted
    slot runs new processes and terminals."""
    from test_faults import kill9
    d = make_daemon(SMALL)
    c = d.client()
    sid = acquire(c)
    mark = marker()
    start(c, sid, sleeper(mark))
    assert wait_for(lambda: host_pids(mark))
    kill9(d)
    assert wait_for(lambda: not host_pids(mark))
    d.start()
    c = d.client()
    assert api(c, "GET", f"/v1/slots/{sid}/processes", None, 200) == {"processes": []}
    pid = start(c, sid, "stty size", pty={"rows": 7, "cols": 9})["process_id"]
    out, _, r = wait_exit(c, sid, pid)
    assert out == "7 9\r\n" and r["exit_code"] == 0


def slot_leader_of(pid):
    """The host pid of the slot leader above pid: the first ancestor that
    is PID 1 of its own pid namespace."""
    while pid > 1:
        with open(f"/proc/{pid}/status") as f:
            fields = dict(line.rstrip("\n").split(":\t", 1) for line in f
                          if ":\t" in line)
        if fields["NSpid"].split()[-1] == "1":
            return pid
        pid = int(fields["PPid"])
    raise AssertionError("no slot leader above the process")


def test_adopted_slot_runs_processes_before_its_leaders_hello(make_daemon):
    """A request can reach an adopted slot before its leader, slow to run,
    says HELLO on the new channel: init's HELLO(adopt) already says that
    this build's leaders run processes, so the start is not refused as
    from an older build (409 sandbox_too_old) but runs once the leader
    does."""
    import signal
    import threading
    from test_faults import kill9
    d = make_daemon(SMALL)
    c = d.client()
    sid = acquire(c)
    mark = marker()
    start(c, sid, sleeper(mark))
    assert wait_for(lambda: host_pids(mark))
    leader = slot_leader_of(host_pids(mark)[0])
    kill9(d)
    assert wait_for(lambda: not host_pids(mark))
    os.kill(leader, signal.SIGSTOP)
    resume = threading.Timer(1.0, os.kill, (leader, signal.SIGCONT))
    resume.start()
    try:
        d.start()
        c = d.client()
        pid = start(c, sid, "echo adopted")["process_id"]
    finally:
        resume.cancel()
        os.kill(leader, signal.SIGCONT)
    out, _, r = wait_exit(c, sid, pid)
    assert out == "adopted\n" and r["exit_code"] == 0
