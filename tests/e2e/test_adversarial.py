# SPDX-License-Identifier: Apache-2.0
"""Adversarial clients against the real daemon (issue 11).

Slowloris, thousands of idle connections, oversized headers and bodies,
pipelining, half-closed sockets, and hostile JSON (invalid UTF-8, deep
nesting, duplicate keys, numbers out of range): every one is answered with
a clear 4xx error body or a closed connection, never a crash or a hang.
Throughout each test a separate process polls GET /v1/health on its own
connection, and the test checks that the daemon kept answering it quickly.
"""
import json
import os
import re
import resource
import select
import shutil
import socket
import subprocess
import sys
import tempfile
import time

import pytest

from conftest import Daemon

HEADER_TIMEOUT = 1.0
HEALTH_LIMIT_S = 0.050
TOKEN = "adversarial-token-0123456789"
POOL = """
profiles:
  default:
    slots_per_sandbox: 2
    min_sandboxes: 1
    max_sandboxes: 1
"""


def start_daemon(header_timeout=None):
    tmp = tempfile.mkdtemp(prefix="sbx-adv-", dir="/tmp")
    token = os.path.join(tmp, "token")
    with open(token, "w") as f:
        f.write(TOKEN + "\n")
    os.chmod(token, 0o600)  # a token others can read is refused
    args = ["--listen", "tcp://127.0.0.1:0", "--token-file", token]
    if header_timeout is not None:
        args += ["--header-timeout", str(header_timeout)]
    d = Daemon(tmp, POOL, args=args)
    d.start()
    m = re.search(r"listening.*?port\W+(\d+)", d.read_log())
    assert m, d.read_log()
    d.tcp_port = int(m.group(1))
    return d


def stop_daemon(d):
    rc = d.stop()
    log = d.read_log()
    shutil.rmtree(d.tmp, ignore_errors=True)
    assert rc == 0, log
    assert "ERROR: AddressSanitizer" not in log and "runtime error" not in log, log


@pytest.fixture(scope="module")
def adv():
    """A daemon with a short header timeout and a TCP listener."""
    d = start_daemon(HEADER_TIMEOUT)
    yield d
    stop_daemon(d)


# ---- the health poller: a process of its own, so that this test's own
# Python work (thousands of sockets) cannot delay its measurements ----

POLLER = r"""
import json, re, select, socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
req = b"GET /v1/health HTTP/1.1\r\nHost: x\r\n\r\n"
lat, bad, buf = [], [], b""
sys.stdout.write("ready\n")
sys.stdout.flush()
try:
    while True:
        t0 = time.perf_counter()
        s.sendall(req)
        while b"\r\n\r\n" not in buf:
            chunk = s.recv(65536)
            if not chunk:
                raise EOFError("the daemon closed the health connection")
            buf += chunk
        head, _, buf = buf.partition(b"\r\n\r\n")
        n = int(re.search(rb"Content-Length: (\d+)", head).group(1))
        while len(buf) < n:
            chunk = s.recv(65536)
            if not chunk:
                raise EOFError("the daemon closed the health connection")
            buf += chunk
        buf = buf[n:]
        lat.append(time.perf_counter() - t0)
        status = int(head.split()[1])
        if status != 200:
            bad.append(status)
        # at EOF the test is over; 20 samples at least, so that even a
        # quick test shows how the daemon fares right after it
        if select.select([sys.stdin], [], [], 0.01)[0] and len(lat) >= 20:
            break
    err = None
except Exception as e:
    err = repr(e)
print(json.dumps({"lat": lat, "bad": bad, "err": err}))
"""


class Health:
    def __init__(self, daemon):
        self.proc = subprocess.Popen([sys.executable, "-c", POLLER, daemon.socket],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        assert self.proc.stdout.readline() == b"ready\n"

    def stop(self):
        out, _ = self.proc.communicate(b"", timeout=30)  # EOF: stop
        return json.loads(out)


@pytest.fixture
def health(adv, request):
    """Poll /v1/health all through the test; every answer 200, and fast."""
    h = Health(adv)
    yield h
    check_health(h, request.node.name)


def check_health(h, name, strict=True):
    """Every answer within HEALTH_LIMIT_S; with strict False only the p99
    (the max is printed either way)."""
    r = h.stop()
    lat = sorted(r["lat"])
    assert r["err"] is None, r["err"]
    assert lat, "no health answer at all"
    assert not r["bad"], r["bad"]
    p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))]
    worst = lat[-1]
    print(f"\n{name}: /v1/health n={len(lat)} p50={lat[len(lat) // 2] * 1e3:.1f} ms "
          f"p99={p99 * 1e3:.1f} ms max={worst * 1e3:.1f} ms")
    assert p99 <= HEALTH_LIMIT_S, f"p99 {p99 * 1e3:.1f} ms, max {worst * 1e3:.1f} ms"
    if strict:
        assert worst <= HEALTH_LIMIT_S, f"max {worst * 1e3:.1f} ms"


# ---- raw connections ----

class Raw:
    """One raw connection that reads answers one by one."""

    def __init__(self, d, tcp=False, timeout=10):
        if tcp:
            self.s = socket.create_connection(("127.0.0.1", d.tcp_port), timeout=timeout)
        else:
            self.s = socket.socket(socket.AF_UNIX)
            self.s.settimeout(timeout)
            # A unix socket whose listen backlog is full refuses a
            # connect with a timeout at once (EAGAIN) instead of waiting:
            # retry, as a client would, while the daemon accepts its
            # bursts (64 a loop turn).
            deadline = time.monotonic() + timeout
            while True:
                try:
                    self.s.connect(d.socket)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.001)
        self.buf = b""

    def send(self, data):
        self.s.sendall(data)

    def _fill(self):
        chunk = self.s.recv(65536)
        if not chunk:
            raise EOFError("closed by the daemon")
        self.buf += chunk

    def answer(self):
        """(status, headers dict, body bytes) of the next answer."""
        while b"\r\n\r\n" not in self.buf:
            self._fill()
        head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        hdrs = {k.strip().lower(): v.strip() for k, v in
                (ln.split(":", 1) for ln in lines[1:])}
        if hdrs.get("transfer-encoding") == "chunked":
            body = b""
            while True:
                while b"\r\n" not in self.buf:
                    self._fill()
                size, _, self.buf = self.buf.partition(b"\r\n")
                n = int(size, 16)
                while len(self.buf) < n + 2:
                    self._fill()
                body += self.buf[:n]
                self.buf = self.buf[n + 2:]
                if n == 0:
                    return status, hdrs, body
        n = int(hdrs.get("content-length", "0"))
        while len(self.buf) < n:
            self._fill()
        body, self.buf = self.buf[:n], self.buf[n:]
        return status, hdrs, body

    def closed(self):
        """True once the daemon has closed (EOF or reset)."""
        try:
            return self.s.recv(65536) == b""
        except (ConnectionResetError, BrokenPipeError):
            return True

    def close(self):
        self.s.close()


def request(method, path, body=b"", headers=(), tcp=False):
    head = [f"{method} {path} HTTP/1.1", "Host: x"]
    if tcp:
        head.append(f"Authorization: Bearer {TOKEN}")
    if body or method in ("POST", "PUT"):
        head.append(f"Content-Length: {len(body)}")
    head += list(headers)
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


def error_code(status, body):
    """The API error code of a 4xx answer, checking the error body's shape."""
    assert 400 <= status < 500, (status, body)
    doc = json.loads(body)
    assert isinstance(doc["error"]["code"], str) and doc["error"]["message"], doc
    return doc["error"]["code"]


def call(d, method, path, body=b"", tcp=False, headers=()):
    c = Raw(d, tcp)
    try:
        c.send(request(method, path, body, headers, tcp))
        return c.answer()
    finally:
        c.close()


def leased_slot(d):
    status, _, body = call(d, "POST", "/v1/slots", b'{"trajectory_id": "adv"}')
    assert status == 201, body
    return json.loads(body)["slot_id"]


# ---- slowloris ----

@pytest.mark.parametrize("tcp", [False, True], ids=["unix", "tcp"])
def test_slowloris_is_cut_off_by_the_header_timeout(adv, health, tcp):
    conns = [Raw(adv, tcp) for _ in range(50)]
    start = time.monotonic()
    closed_at = [None] * len(conns)
    trickle = b"GET /v1/health HTTP/1.1\r\nX-Slow: " + b"a" * 10000
    sent = 0
    while None in closed_at and time.monotonic() - start < HEADER_TIMEOUT + 3:
        for i, c in enumerate(conns):
            if closed_at[i] is not None:
                continue
            try:  # one byte at a time, every 50 ms
                c.s.send(trickle[sent:sent + 1])
            except (BrokenPipeError, ConnectionResetError):
                closed_at[i] = time.monotonic() - start
                continue
            if select.select([c.s], [], [], 0)[0]:
                assert c.closed(), "a slowloris client got an answer"
                closed_at[i] = time.monotonic() - start
        sent += 1
        time.sleep(0.05)
    for c in conns:
        c.close()
    assert None not in closed_at, "slowloris connections outlived the header timeout"
    assert max(closed_at) <= HEADER_TIMEOUT + 1.0, max(closed_at)
    assert min(closed_at) >= HEADER_TIMEOUT - 0.1, min(closed_at)


def test_header_timeout_option_is_checked(tmp_path):
    for bad in ("0", "-1", "nan", "abc", "1e9"):
        d = Daemon(str(tmp_path), args=["--header-timeout", bad])
        d.start(wait=False)
        assert d.proc.wait(timeout=10) == 2, d.read_log()
        assert "--header-timeout" in d.read_log()


# ---- many idle connections ----

@pytest.fixture
def own_daemon():
    """A daemon of its own, with the default header timeout, so that idle
    connections stay open long enough to be many at once."""
    d = start_daemon()
    yield d
    stop_daemon(d)


def test_many_idle_connections(own_daemon):
    d = own_daemon
    h = Health(d)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 10000
    if hard < want + 300:
        want = max(2000, hard - 300)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, want + 300)), hard))
    conns = []
    try:
        t0 = time.monotonic()
        for i in range(want):
            c = Raw(d)
            if i % 2:  # half of them keep-alive after one request
                c.send(request("GET", "/v1/health"))
            conns.append(c)
        for c in conns[1::2]:
            assert c.answer()[0] == 200
        opened = time.monotonic() - t0
        # all still held, and the daemon still does real work
        time.sleep(1)
        fds = len(os.listdir(f"/proc/{d.proc.pid}/fd"))
        assert fds >= want, fds
        sid = leased_slot(d)
        status, _, body = call(d, "POST", f"/v1/slots/{sid}/exec",
                               b'{"tool": "bash", "args": {"command": "echo hi"}}')
        assert status == 200 and json.loads(body)["output"] == "hi\n", body
        print(f"\n{want} idle connections opened in {opened:.1f} s; daemon fds {fds}")
    finally:
        for c in conns:
            c.close()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    # the daemon lets go of them all
    deadline = time.monotonic() + 10
    while len(os.listdir(f"/proc/{d.proc.pid}/fd")) > 200 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(os.listdir(f"/proc/{d.proc.pid}/fd")) <= 200
    # Not strict: when the client closes its 10,000 sockets at once, the
    # daemon reads their EOFs in few loop turns before the poller's
    # request. It closes at most HTTP_CLOSE_BURST of them a turn (the
    # kernel's teardown of 10,000 in one turn held the loop 62-129 ms
    # under ASan on this shared 2-core VM; 7-44 ms since), so the p99
    # stays within the limit (docs/fuzzing.md).
    check_health(h, "test_many_idle_connections (own daemon)", strict=False)


# ---- oversized requests ----

@pytest.mark.parametrize("tcp", [False, True], ids=["unix", "tcp"])
def test_oversized_headers_get_431(adv, health, tcp):
    c = Raw(adv, tcp)
    big = [f"X-Big-{i}: " + "a" * 1000 for i in range(70)]
    try:
        c.send(request("GET", "/v1/health", headers=big, tcp=tcp))
    except (BrokenPipeError, ConnectionResetError):
        pass  # the daemon may close before the last bytes went out
    status, hdrs, body = c.answer()
    assert error_code(status, body) == "headers_too_large" and status == 431
    assert hdrs.get("connection") == "close"
    assert c.closed()
    c.close()
    # a long request line counts too
    c = Raw(adv, tcp)
    try:
        c.send(request("GET", "/v1/health?" + "q" * 70000, tcp=tcp))
    except (BrokenPipeError, ConnectionResetError):
        pass
    status, _, body = c.answer()
    assert status == 431, body
    c.close()


@pytest.mark.parametrize("length", [96 * 2**20 + 1, 10**12, 2**63])
@pytest.mark.parametrize("tcp", [False, True], ids=["unix", "tcp"])
def test_oversized_body_gets_413_before_it_is_sent(adv, health, tcp, length):
    c = Raw(adv, tcp, timeout=5)
    head = request("POST", "/v1/exec", tcp=tcp).replace(b"Content-Length: 0",
                                                        f"Content-Length: {length}".encode())
    t0 = time.monotonic()
    c.send(head)  # and no body at all
    status, hdrs, body = c.answer()
    assert time.monotonic() - t0 < 2
    assert status == 413 and error_code(status, body) == "payload_too_large"
    assert hdrs.get("connection") == "close"
    # what the client sends next is read and dropped, not kept
    try:
        c.send(b"x" * 65536)
    except (BrokenPipeError, ConnectionResetError):
        pass
    c.close()


@pytest.mark.parametrize("value", ["99999999999999999999999", "-1", "1, 2", "0x10", ""])
def test_bad_content_length_is_400(adv, health, value):
    status, _, body = call(adv, "POST", "/v1/slots",
                           headers=[f"Content-Length: {value}"])
    assert status == 400, body
    error_code(status, body)


def test_two_content_lengths_are_400(adv, health):
    c = Raw(adv)
    c.send(b"POST /v1/slots HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}")
    status, _, body = c.answer()
    assert status == 400 and error_code(status, body)
    c.close()


# ---- pipelining and half-closed sockets ----

@pytest.mark.parametrize("tcp", [False, True], ids=["unix", "tcp"])
def test_pipelined_requests_are_answered_in_order(adv, health, tcp):
    sid = leased_slot(adv)
    reqs = [
        request("GET", "/v1/health", tcp=tcp),
        request("POST", f"/v1/slots/{sid}/exec",
                b'{"tool": "bash", "args": {"command": "sleep 0.2; echo slow"}}', tcp=tcp),
        request("GET", "/v1/nope", tcp=tcp),
        request("POST", "/v1/slots", b"{not json", tcp=tcp),
        request("POST", f"/v1/slots/{sid}/exec",
                b'{"tool": "bash", "args": {"command": "echo fast"}}', tcp=tcp),
        request("GET", "/v1/profiles", tcp=tcp),
    ]
    c = Raw(adv, tcp)
    c.send(b"".join(reqs))
    got = [c.answer() for _ in reqs]
    c.close()
    assert [g[0] for g in got] == [200, 200, 404, 400, 200, 200]
    assert json.loads(got[1][2])["output"] == "slow\n"
    assert json.loads(got[4][2])["output"] == "fast\n"
    assert "profiles" in json.loads(got[5][2])
    assert call(adv, "DELETE", f"/v1/slots/{sid}")[0] == 204


def test_half_closed_socket_still_gets_its_answers(adv, health):
    sid = leased_slot(adv)
    # quick answers, pipelined, then the client stops sending
    for tcp in (False, True):
        c = Raw(adv, tcp)
        c.send(request("GET", "/v1/health", tcp=tcp) + request("GET", "/v1/status", tcp=tcp))
        c.s.shutdown(socket.SHUT_WR)
        assert c.answer()[0] == 200 and c.answer()[0] == 200
        assert c.closed()
        c.close()
    # an answer that takes a while: the call runs and its result comes
    c = Raw(adv)
    c.send(request("POST", f"/v1/slots/{sid}/exec",
                   b'{"tool": "bash", "args": {"command": "sleep 0.3; echo done"}}'))
    c.s.shutdown(socket.SHUT_WR)
    status, _, body = c.answer()
    assert status == 200 and json.loads(body)["output"] == "done\n", body
    assert c.closed()
    c.close()
    assert call(adv, "DELETE", f"/v1/slots/{sid}")[0] == 204


def test_a_client_that_goes_away_cancels_its_acquire(adv, health):
    """Full close (unlike a half-close) still means gone: a queued acquire
    leaves the queue rather than leasing a slot to nobody."""
    held = [leased_slot(adv), leased_slot(adv)]  # the pool's only 2 slots
    c = Raw(adv)
    c.send(request("POST", "/v1/slots", b'{"timeout_s": 30}'))
    time.sleep(0.3)
    c.close()
    time.sleep(0.3)
    status, _, body = call(adv, "GET", "/v1/status")
    pool = json.loads(body)["pools"]["default"]
    assert pool["waiters"] == 0, pool
    for sid in held:
        assert call(adv, "DELETE", f"/v1/slots/{sid}")[0] == 204
    status, _, body = call(adv, "GET", "/v1/status")
    assert json.loads(body)["pools"]["default"]["leased_slots"] == 0


# ---- hostile JSON ----

def test_invalid_utf8_in_json_strings(adv, health):
    sid = leased_slot(adv)
    bodies = [
        ("/v1/slots", b'{"trajectory_id": "\xff\xfe"}'),
        ("/v1/slots", b'{"trajectory_id": "\xc0\xaf"}'),      # overlong '/'
        ("/v1/slots", b'{"trajectory_id": "\xed\xa0\x80"}'),  # a surrogate
        ("/v1/slots", b'{"trajectory_id": "\\ud800"}'),       # escaped lone surrogate
        ("/v1/slots", b'{"trajectory_id": "a\\u0000b"}'),     # NUL inside
        ("/v1/slots", b'{"\xff": 1}'),
        (f"/v1/slots/{sid}/exec", b'{"tool": "bash", "args": {"command": "echo \xe2\x82"}}'),
        (f"/v1/slots/{sid}/exec", b'{"tool": "bash", "args": {"command": "echo a\\u0000b"}}'),
        (f"/v1/slots/{sid}/exec",
         b'{"tool": "bash", "args": {"command": "env", "env": {"K": "a\\u0000b"}}}'),
        (f"/v1/slots/{sid}/exec",
         b'{"tool": "write_file", "args": {"path": "a\\u0000b", "content": "x"}}'),
    ]
    for path, body in bodies:
        status, _, answer = call(adv, "POST", path, body)
        assert status == 400, (body, status, answer)
        error_code(status, answer)
    assert call(adv, "DELETE", f"/v1/slots/{sid}")[0] == 204


@pytest.mark.parametrize("opener,closer", [(b"[", b"]"), (b'{"a":', b"}")])
def test_deeply_nested_json_is_a_clean_400(adv, health, opener, closer):
    depth = 100000
    for path in ("/v1/slots", "/v1/exec"):
        status, _, body = call(adv, "POST", path, opener * depth + b"1" + closer * depth)
        assert status == 400 and error_code(status, body) == "bad_request", body
    # unterminated too
    status, _, body = call(adv, "POST", "/v1/slots", opener * depth)
    assert status == 400, body


def test_duplicate_keys_are_refused(adv, health):
    sid = leased_slot(adv)
    for path, body in [
        ("/v1/slots", b'{"profile": "default", "profile": "other"}'),
        (f"/v1/slots/{sid}/exec", b'{"tool": "bash", "tool": "read_file", "args": {"command": "x"}}'),
        (f"/v1/slots/{sid}/exec", b'{"tool": "bash", "args": {"command": "a", "command": "b"}}'),
        ("/v1/exec", b'{"requests": [], "requests": []}'),
    ]:
        status, _, answer = call(adv, "POST", path, body)
        assert status == 400 and error_code(status, answer) == "bad_request", (body, answer)
        assert b"duplicate" in answer, answer
    assert call(adv, "DELETE", f"/v1/slots/{sid}")[0] == 204


BAD_SECONDS = [b"1e308", b"-1", b"0", b"NaN", b"-NaN", b"Infinity", b"-Infinity", b"1e999",
               b"-1e999", b"99999999999999999999999", b"-9223372036854775809", b'"10"',
               b"true", b"[]", b"{}", b"86400.5", b"1e-400"]


def test_bad_timeouts_and_sizes_are_4xx(adv, health):
    sid = leased_slot(adv)
    for v in BAD_SECONDS:
        for path, body in [
            ("/v1/slots", b'{"timeout_s": %s}' % v),
            ("/v1/slots", b'{"ttl_s": %s}' % v),
            (f"/v1/slots/{sid}/renew", b'{"ttl_s": %s}' % v),
            (f"/v1/slots/{sid}/exec",
             b'{"tool": "bash", "args": {"command": "true"}, "timeout_s": %s}' % v),
            ("/v1/exec", b'{"requests": [], "timeout_s": %s}' % v),
            (f"/v1/slots/{sid}/fork", b'{"count": %s}' % v),
        ]:
            if v in (b"0", b"1e-400") and path.endswith("/renew"):
                continue  # ttl_s 0 turns expiry off (1e-400 is 0)
            status, _, answer = call(adv, "POST", path, body)
            assert 400 <= status < 500, (path, body, status, answer)
            error_code(status, answer)
    # sizes: max_bytes of the read_file tool and of the file endpoints
    for v in [b"-1", b"1e308", b"NaN", b"99999999999999999999999", b'"5"']:
        status, _, answer = call(adv, "POST", f"/v1/slots/{sid}/exec",
                                 b'{"tool": "read_file", "args": {"path": "x", "max_bytes": %s}}' % v)
        assert status == 400, (v, answer)
        error_code(status, answer)
    for q in ["max_bytes=-1", "max_bytes=18446744073709551616", "max_bytes=1e3",
              "max_bytes=NaN", "max_bytes=", "max_bytes=%00"]:
        for ep in ("file", "archive"):
            status, _, answer = call(adv, "GET", f"/v1/slots/{sid}/{ep}?path=x&{q}")
            assert status == 400, (ep, q, answer)
            error_code(status, answer)
    for q in ["max_entries=-5", "max_entries=99999999999999999999", "max_entries=1000001"]:
        status, _, answer = call(adv, "GET", f"/v1/slots/{sid}/list?{q}")
        assert status == 400, (q, answer)
    # a huge but valid max_bytes is capped by the profile, not an error
    call(adv, "PUT", f"/v1/slots/{sid}/file?path=small", b"abc")
    status, _, answer = call(adv, "POST", f"/v1/slots/{sid}/exec",
                             b'{"tool": "read_file", "args": {"path": "small", '
                             b'"max_bytes": 9223372036854775807}}')
    assert status == 200 and json.loads(answer)["output"] == "abc", answer
    # a batch's bad call fails alone, with a clear error
    status, _, answer = call(adv, "POST", "/v1/exec",
                             b'{"requests": [{"slot_id": "%s", "tool": "bash", '
                             b'"args": {"command": "true"}, "timeout_s": NaN}]}' % sid.encode())
    assert status == 400, answer  # NaN is not JSON: the whole body is refused
    status, _, answer = call(adv, "POST", "/v1/exec",
                             b'{"requests": [{"slot_id": "%s", "tool": "bash", '
                             b'"args": {"command": "true"}, "timeout_s": -1}]}' % sid.encode())
    res = json.loads(answer)["results"][0]
    assert status == 200 and res["success"] is False
    assert res["metadata"]["error_code"] == "bad_request", res
    assert call(adv, "DELETE", f"/v1/slots/{sid}")[0] == 204


def test_daemon_survived(adv):
    """After everything above: still serving, nothing leaked to the log."""
    status, _, body = call(adv, "GET", "/v1/health")
    assert status == 200 and json.loads(body)["ok"] is True
    log = adv.read_log()
    assert "AddressSanitizer" not in log and "runtime error" not in log, log
