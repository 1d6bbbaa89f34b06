# SPDX-License-Identifier: Apache-2.0
"""The Python client's API 1.1 helpers against the real daemon, sync and
asyncio: streamed exec (exec_stream), background processes through their
handles (Process / AsyncProcess), the port proxy helpers (slot_url,
port_request) and Hermes' interrupt of a background process.

Early arrival is shown causally, never by a latency: the command waits for
a file that the test writes only once the command's first line has
reached it, so a client that held events back until the end would never
see the command finish (the call then times out and the test fails)."""
import asyncio
import os
import shutil
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

from conftest import SMALL_POOL, Daemon
from slotbox import (AsyncClient, AsyncProcess, BadRequest, Client, ExecutionResult, NotFound,
                     Process, ProcessNotFound, SlotboxError, StreamEvent)

# A bound for "never" while waiting for something the test caused (not a
# timing figure: each wait ends as soon as the awaited thing is seen).
PATIENCE_S = 20

WAIT_FOR_GO = "while [ ! -e go ]; do sleep 0.02; done"


def until(pred, what):
    deadline = time.monotonic() + PATIENCE_S
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.05)
    raise AssertionError(f"never: {what}")


def text_of(events, kind=None):
    return "".join(e.text for e in events if e.is_output and (kind is None or e.type == kind))


@pytest.fixture
def c(daemon):
    with Client(daemon.socket) as cl:
        yield cl


@pytest.fixture
def slot(c):
    s = c.acquire("procs")
    yield s
    try:
        c.release(s)
    except NotFound:
        pass


# ---- streamed exec ------------------------------------------------------

def test_exec_stream_events_arrive_before_the_end(c, slot):
    """The command prints a line and waits for the test's answer to it."""
    got = []
    for ev in c.exec_stream(slot, f"echo first; {WAIT_FOR_GO}; echo second; "
                                  "echo oops >&2; printf '\\377\\376'; exit 3", timeout_s=30):
        assert isinstance(ev, StreamEvent)
        got.append(ev)
        if ev.type == "stdout" and "first" in text_of(got, "stdout") and len(got) == 1:
            c.write_file(slot, "go", b"")  # only now may the command go on
    assert got[-1].type == "result"
    r = got[-1].result
    assert isinstance(r, ExecutionResult)
    assert r.metadata["returncode"] == 3 and not r.success and r.metadata["error_class"] == "task"
    assert got[-1].exit_code == 3
    out = b"".join(e.data if isinstance(e.data, bytes) else e.data.encode()
                   for e in got if e.type == "stdout")
    assert out == b"first\nsecond\n\xff\xfe"  # in order, the non-UTF-8 tail as bytes
    assert text_of(got, "stderr") == "oops\n"
    assert all(e.type != "result" for e in got[:-1])


def test_exec_stream_early_exit_cancels_the_call(c, slot):
    """Leaving the loop closes the connection: the daemon kills the call
    (the file the command would write after its wait never appears)."""
    stream = c.exec_stream(slot, f"echo started; {WAIT_FOR_GO}; touch after", timeout_s=30)
    for ev in stream:
        assert ev.text == "started\n"
        break
    stream.close()
    until(lambda: not c.transport.request("GET", f"/v1/slots/{slot.slot_id}")[1].get(
        "executions"), "the cancelled call to end")
    c.write_file(slot, "go", b"")
    assert c.bash(slot, "test -e after && echo yes || echo no").output == "no\n"


def test_exec_stream_errors_raise(c, slot):
    with pytest.raises(SlotboxError) as e:
        list(c.exec_stream("default-00000000_slot_9", "true"))
    assert e.value.status in (404, 409)
    # the same client still works (the connection pool is sound)
    assert [e.type for e in c.exec_stream(slot, "true")] == ["result"]


def test_exec_stream_on_a_pty(c, slot):
    evs = list(c.exec_stream(slot, "tty; stty size; [ -t 0 ] && echo isatty", pty=(20, 60)))
    out = text_of(evs)
    assert out.startswith("/dev/pts/") and "20 60\r\n" in out and "isatty" in out
    assert evs[-1].result.success
    # the plain (unstreamed) exec takes it too
    r = c.bash(slot, "stty size", pty={"rows": 21, "cols": 61})
    assert r.output.strip() == "21 61"


def test_async_exec_stream(daemon):
    async def main():
        async with AsyncClient(daemon.socket) as ac:
            s = await ac.acquire("procs-aio")
            got = []
            async for ev in ac.exec_stream(s, f"echo one; {WAIT_FOR_GO}; echo two",
                                           timeout_s=30):
                got.append(ev)
                if len(got) == 1:
                    assert ev.text == "one\n"
                    await ac.write_file(s, "go", b"")
            assert text_of(got) == "one\ntwo\n"
            assert got[-1].result.success
            # merge_output passes through
            got = [e async for e in ac.exec_stream(s, "echo a; echo b >&2; echo c",
                                                   merge_output=True)]
            assert text_of(got, "stdout") == "a\nb\nc\n"
            await ac.release(s)
    asyncio.run(main())


# ---- processes ----------------------------------------------------------

def test_process_stdin_output_and_exit_code(c, slot):
    p = c.start_process(slot, "read x; echo got:$x; read y; echo got:$y >&2; exit 4")
    assert isinstance(p, Process) and p.process_id
    assert any(x["process_id"] == p.process_id and x["running"] for x in c.processes(slot))
    p.write_stdin("hello\n")
    seen = ""
    deadline = time.monotonic() + PATIENCE_S
    while "got:hello" not in seen and time.monotonic() < deadline:
        seen += p.output(wait_s=5).text  # long-poll: returns once output is there
    assert seen == "got:hello\n"
    p.write_stdin(b"world\n")
    assert p.wait(timeout=PATIENCE_S) == 4
    assert p.exit_code == 4 and not p.running
    rest = p.output()
    assert rest.stderr == "got:world\n" and not rest.running and rest.exit_code == 4
    assert rest.dropped == 0
    listed = [x for x in c.processes(slot) if x["process_id"] == p.process_id][0]
    assert listed["running"] is False and listed["exit_code"] == 4


def test_process_close_stdin_and_env_cwd(c, slot):
    c.bash(slot, "mkdir -p sub")
    p = c.start_process(slot, "echo $GREETING; pwd; cat; echo eof", env={"GREETING": "hi"},
                        cwd="sub")
    p.write_stdin("line\n")
    p.close_stdin()
    assert p.wait(timeout=PATIENCE_S) == 0
    assert p.output(since=0).stdout == "hi\n/workspace/sub\nline\neof\n"


def test_process_first_stdin_merge_and_a_big_write(c, slot):
    p = c.start_process(slot, "cat; echo err >&2; echo out", stdin="first input\n",
                        merge_output=True)
    p.close_stdin()
    assert p.wait(timeout=PATIENCE_S) == 0
    o = p.output(since=0)
    assert o.stdout == "first input\nerr\nout\n" and o.stderr == ""
    # 3 MiB while nothing reads for a while: the daemon queues 1 MiB and
    # answers 429 to the rest until the process reads; the client waits
    # and goes on
    q = c.start_process(slot, "while [ ! -e go ]; do sleep 0.02; done; wc -c")
    import threading
    t = threading.Timer(1.0, lambda: c.write_file(slot, "go", b""))
    t.start()
    q.write_stdin(b"x" * (3 << 20))
    q.close_stdin()
    t.join()
    assert q.wait(timeout=PATIENCE_S) == 0
    assert q.output(since=0).stdout.strip() == str(3 << 20)


def test_process_stream_reattach_and_since(c, slot):
    p = c.start_process(slot, f"echo one; {WAIT_FOR_GO}; echo two; exit 5")
    first = p.output(wait_s=5)
    assert first.stdout == "one\n" and first.running
    # another handle on the same process (as a second client would have)
    again = c.process(slot, p.process_id)
    assert again.process_id == p.process_id
    c.write_file(slot, "go", b"")
    evs = list(again.stream())  # from offset 0: the ring, then live, to its end
    assert text_of(evs) == "one\ntwo\n"
    assert evs[-1].exit_code == 5 and not evs[-1].is_output
    # since: only what came after the first read
    assert p.output(since=first.next).stdout == "two\n"
    with pytest.raises(NotFound):
        c.process(slot, "no-such-process")
    with pytest.raises(ProcessNotFound) as e:
        c.process_output(slot, "no-such-process")
    assert e.value.status == 404


def test_process_interrupt_signal_and_kill(c, slot):
    p = c.start_process(slot, "trap 'echo caught; exit 7' INT; echo armed; "
                              "while :; do sleep 0.05; done")
    assert p.output(wait_s=5).stdout == "armed\n"
    p.interrupt()  # INT to its foreground group
    assert p.wait(timeout=PATIENCE_S) == 7
    assert "caught" in p.output().stdout

    q = c.start_process(slot, "trap 'echo term; exit 9' TERM; echo armed; "
                              "while :; do sleep 0.05; done")
    assert q.output(wait_s=5).stdout == "armed\n"
    q.signal("SIGTERM")
    assert q.wait(timeout=PATIENCE_S) == 9

    with pytest.raises(BadRequest):
        c.process_signal(slot, q.process_id, "NOT-A-SIGNAL")
    k = c.start_process(slot, "sleep 300 & sleep 300; echo never")
    k.kill()  # its tree dies and the daemon forgets it
    assert k.wait(timeout=PATIENCE_S) is None and not k.running
    until(lambda: all(x["process_id"] != k.process_id for x in c.processes(slot)),
          "the killed process to leave the list")
    with pytest.raises(ProcessNotFound):
        c.process_output(slot, k.process_id)


def test_process_on_a_pty_sees_a_terminal_and_resizes(c, slot):
    p = c.start_process(slot, "stty size; tty; [ -t 0 ] && echo isatty; echo TERM=$TERM; "
                              "read x; stty size", pty=(30, 100))
    seen = ""
    deadline = time.monotonic() + PATIENCE_S
    while "TERM=" not in seen and time.monotonic() < deadline:
        seen += p.output(wait_s=5).text
    assert "30 100" in seen and "isatty" in seen and "/dev/pts/" in seen
    assert "TERM=xterm-256color" in seen
    p.resize(40, 120)
    p.write_stdin("\n")
    assert p.wait(timeout=PATIENCE_S) == 0
    assert "40 120" in p.output().text


def test_process_handle_after_the_lease(c, daemon):
    """A handle outlives nothing: once the lease ends, the process is gone
    with it and its handle's calls fail with the API's error."""
    s = c.acquire("procs-lease")
    p = c.start_process(s, "echo up; sleep 300")
    assert p.output(wait_s=5).stdout == "up\n"
    c.release(s)
    with pytest.raises(SlotboxError) as e:
        p.output()
    assert e.value.status in (404, 409)


def test_async_process_handle(daemon):
    async def main():
        async with AsyncClient(daemon.socket) as ac:
            s = await ac.acquire("procs-aio")
            p = await ac.start_process(s, "read x; echo got:$x; exit 2")
            assert isinstance(p, AsyncProcess)
            await p.write_stdin("hi\n")
            evs = [e async for e in p.stream()]
            assert text_of(evs) == "got:hi\n" and evs[-1].exit_code == 2
            assert await p.wait(timeout=PATIENCE_S) == 2
            q = await ac.start_process(s, "trap 'exit 7' INT; echo armed; "
                                          "while :; do sleep 0.05; done", pty=True)
            assert "armed" in (await q.output(wait_s=5)).text
            await q.resize(50, 150)
            await q.interrupt()
            assert await q.wait(timeout=PATIENCE_S) == 7
            k = await ac.start_process(s, "sleep 300")
            await k.kill()
            assert await k.wait(timeout=PATIENCE_S) is None
            for _ in range(PATIENCE_S * 20):
                if all(x["process_id"] != k.process_id for x in await ac.processes(s)):
                    break
                await asyncio.sleep(0.05)
            else:
                raise AssertionError("the killed process never left the list")
            await ac.release(s)
    asyncio.run(main())


# ---- ports --------------------------------------------------------------

def start_http_server(c, slot, port):
    c.write_file(slot, "www/hello.txt", b"hello from the slot\n")
    p = c.start_process(slot, f"exec python3 -m http.server {port} --bind 127.0.0.1",
                        cwd="www")
    until(lambda: c.port_request(slot, port, "GET", "/hello.txt").status == 200,
          "the server inside the slot to answer")
    return p


def test_port_request_reaches_a_server_in_this_slot_only(c, slot):
    other = c.acquire("procs-other")
    try:
        p = start_http_server(c, slot, 8765)
        r = c.port_request(slot, 8765, "GET", "/hello.txt?x=1")
        assert r.status == 200 and r.text == "hello from the slot\n" and r.error_code is None
        assert r.headers.get("content-type", "").startswith("text/plain")
        miss = c.port_request(slot, 8765, "GET", "/missing")
        assert miss.status == 404 and miss.error_code is None  # the server's own 404
        # the other slot has its own loopback: nothing listens there
        r = c.port_request(other, 8765, "GET", "/hello.txt")
        assert r.status == 502 and r.error_code == "port_unreachable"
        with pytest.raises(ValueError):
            c.port_request(slot, 0)
        with pytest.raises(ValueError):
            c.slot_url(slot, 65536)
        assert c.slot_url(slot, 8765, "/a?b=1") == (
            "http+unix://" + daemon_socket_quoted(c) + f"/v1/slots/{slot.slot_id}/ports/8765/a?b=1")
        p.kill()
    finally:
        c.release(other)


def daemon_socket_quoted(c):
    import urllib.parse
    return urllib.parse.quote(c.endpoint, safe="")


def test_async_port_request(daemon):
    with Client(daemon.socket) as c:
        s = c.acquire("procs-port-aio")
        start_http_server(c, s, 8766)

        async def main():
            async with AsyncClient(daemon.socket) as ac:
                r = await ac.port_request(s, 8766, "GET", "/hello.txt")
                assert r.status == 200 and r.body == b"hello from the slot\n"
                r = await ac.port_request(s, 8767, "GET", "/")
                assert r.status == 502 and r.error_code == "port_unreachable"
        asyncio.run(main())
        c.release(s)


@pytest.fixture
def tcp_daemon():
    tmp = tempfile.mkdtemp(prefix="sbx-procs-", dir="/tmp")
    token = os.path.join(tmp, "token")
    with open(token, "w") as f:
        f.write("procs-token-0123456789\n")
    os.chmod(token, 0o600)
    d = Daemon(tmp, SMALL_POOL, args=["--listen", "tcp://127.0.0.1:0", "--token-file", token])
    d.start()
    yield d
    rc = d.stop()
    shutil.rmtree(tmp, ignore_errors=True)
    assert rc == 0, d.read_log()


def tcp_url(d):
    import re
    m = re.search(r"listening.*?port\W+(\d+)", d.read_log())
    assert m, d.read_log()
    return f"http://127.0.0.1:{m.group(1)}"


def test_slot_url_is_a_real_url_over_tcp(tcp_daemon):
    url = tcp_url(tcp_daemon)
    with Client(url, token="procs-token-0123456789") as c:
        s = c.acquire("procs-tcp")
        start_http_server(c, s, 8768)
        u = c.slot_url(s, 8768, "hello.txt")
        assert u == f"{url}/v1/slots/{s.slot_id}/ports/8768/hello.txt"
        req = urllib.request.Request(u, headers=c.auth_headers())
        with urllib.request.urlopen(req, timeout=PATIENCE_S) as resp:
            assert resp.read() == b"hello from the slot\n"
        with pytest.raises(urllib.error.HTTPError) as e:  # no token: the API's 401
            urllib.request.urlopen(u, timeout=PATIENCE_S)
        assert e.value.code == 401
        c.release(s)


# ---- Hermes -------------------------------------------------------------

def test_hermes_interrupt_stops_a_background_process(daemon):
    from slotbox.hermes import SlotboxEnvironment
    env = SlotboxEnvironment(task_id="procs-hermes", endpoint=daemon.socket)
    try:
        pid = env.run_background("trap 'echo interrupted; exit 130' INT; echo armed; "
                                 "while :; do sleep 0.05; done")
        until(lambda: "armed" in env.read_background(pid)["output"], "the process to start")
        import threading

        def press_stop():  # as Hermes' stop button, once the wait runs
            until(lambda: env._waiting is not None, "wait_background to run")
            env.interrupt()
        t = threading.Thread(target=press_stop)
        t.start()
        r = env.wait_background(pid, timeout=PATIENCE_S)
        t.join()
        assert r["returncode"] == 130 and "interrupted" in r["output"]
        # a foreground command after it runs as before
        assert env.execute("echo still here")["output"] == "still here\n"
    finally:
        env.cleanup()


def test_hermes_interrupt_kills_a_process_that_ignores_int(daemon, monkeypatch):
    import threading

    from slotbox import hermes
    monkeypatch.setattr(hermes, "INTERRUPT_GRACE_S", 0.5)
    env = hermes.SlotboxEnvironment(task_id="procs-hermes-2", endpoint=daemon.socket)
    try:
        pid = env.run_background("trap '' INT; echo armed; sleep 300")
        until(lambda: "armed" in env.read_background(pid)["output"], "the process to start")

        def press_stop():
            until(lambda: env._waiting is not None, "wait_background to run")
            env.interrupt()
        t = threading.Thread(target=press_stop)
        t.start()
        r = env.wait_background(pid, timeout=PATIENCE_S)
        t.join()
        assert r["returncode"] == 130 and "[Command interrupted]" in r["output"]
        until(lambda: all(x["process_id"] != pid for x in env.client.processes(env.slot)),
              "the killed process to leave the list")
        # a wait that times out leaves the process running
        pid2 = env.run_background("sleep 300")
        r = env.wait_background(pid2, timeout=0.3)
        assert r["returncode"] == 124
        assert env.read_background(pid2)["running"] is True
        env.kill_background(pid2)
    finally:
        env.cleanup()


def test_cluster_client_routes_processes_and_ports_to_the_slots_node(daemon, make_daemon):
    """Two daemons: every API 1.1 call goes to the node holding the slot."""
    from slotbox import ClusterClient
    other = make_daemon(SMALL_POOL)
    with ClusterClient([other.socket, daemon.socket]) as cc:
        slots = [cc.acquire(f"procs-cluster-{i}") for i in range(4)]
        by_node = {s.endpoint for s in slots}
        for s in slots:
            p = cc.start_process(s, "read x; echo got:$x")
            p.write_stdin("hi\n")
            assert p.wait(timeout=PATIENCE_S) == 0 and p.output().stdout == "got:hi\n"
            assert [x["process_id"] for x in cc.processes(s)] == [p.process_id]
            assert text_of(cc.exec_stream(s, "echo streamed")) == "streamed\n"
            r = cc.port_request(s, 8799, "GET", "/")
            assert r.status == 502 and r.error_code == "port_unreachable"
            assert cc.slot_url(s, 8799).startswith("http+unix://" + urllib.parse.quote(
                s.endpoint, safe=""))
        for s in slots:
            cc.release(s)
    assert by_node  # (placement is the cluster's business; routing is what is tested)
