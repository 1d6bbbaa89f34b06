# SPDX-License-Identifier: Apache-2.0
"""The port proxy (API 1.1 "Ports"): /v1/slots/{id}/ports/{port}/... reaches
a server listening on 127.0.0.1:{port} inside that slot's own network
namespace, and nothing else: not another slot's server on the same port,
not the host's loopback. Bodies stream both ways under back-pressure,
WebSocket upgrades become a tunnel, and everything ends with the lease."""
import base64
import hashlib
import http.client
import http.server
import json
import os
import re
import socket
import struct
import tempfile
import threading
import time

import pytest

from conftest import Daemon, api
from sbhttp import _UnixConnection, exchange, tcp_exchange

HERE = os.path.dirname(os.path.abspath(__file__))
POOL = """
profiles:
  default:
    slots_per_sandbox: 2
    min_sandboxes: 1
    max_sandboxes: 2
    execution_timeout_s: 30
  hostnet:
    network: host
    min_sandboxes: 0
    slots_per_sandbox: 1
"""
PORT = 8765


def bash(c, slot, command):
    r = api(c, "POST", "/v1/slots/%s/exec" % slot,
            {"tool": "bash", "args": {"command": command}, "timeout_s": 20}, 200)
    assert r["metadata"]["returncode"] == 0, r
    return r["metadata"]["stdout"]


WAIT_LISTEN = ("for i in $(seq 100); do python3 -c 'import socket; "
               "socket.create_connection((\"127.0.0.1\", %d))' 2>/dev/null "
               "&& exit 0; sleep 0.05; done; exit 1")


def start_server(c, slot, port, name):
    """The test server (ports_server.py), in the background in the slot."""
    with open(os.path.join(HERE, "ports_server.py"), "rb") as f:
        code, body = c.request("PUT", "/v1/slots/%s/file?path=ports_server.py" % slot,
                               f.read(), raw=True)
    assert code in (200, 201), body
    bash(c, slot, "setsid nohup python3 ports_server.py %d %s >srv.log 2>&1 "
         "</dev/null & %s" % (port, name, WAIT_LISTEN % port))


@pytest.fixture(scope="module")
def world():
    tmp = tempfile.mkdtemp(prefix="sbx-ports-", dir="/tmp")
    d = Daemon(tmp, POOL).start()
    c = d.client()
    a = api(c, "POST", "/v1/slots", {}, 201)["slot_id"]
    b = api(c, "POST", "/v1/slots", {}, 201)["slot_id"]
    start_server(c, a, PORT, "A")
    start_server(c, b, PORT, "B")
    yield d, c, a, b
    rc = d.stop()
    assert rc == 0, d.read_log()
    os.system("rm -rf --one-file-system %s" % tmp)


def px(d, slot, port, rest="", method="GET", body=None, headers=None):
    return exchange(_UnixConnection(d.socket, timeout=60), method,
                    "/v1/slots/%s/ports/%s%s" % (slot, port, rest), body, headers)


def test_get_head_and_query_string(world):
    d, c, a, b = world
    st, h, body = px(d, a, PORT, "/some/path?x=1&y=a%20b&z")
    assert st == 200, body
    doc = json.loads(body)
    assert doc["name"] == "A" and doc["method"] == "GET"
    assert doc["path"] == "/some/path?x=1&y=a%20b&z"  # as sent, not decoded
    st, h, body = px(d, a, PORT)  # no path after the port: "/"
    assert st == 200 and json.loads(body)["path"] == "/"
    st, h, body = px(d, a, PORT, "?q=1")
    assert st == 200 and json.loads(body)["path"] == "/?q=1"
    st, h, body = px(d, a, PORT, "/x", method="HEAD")
    assert st == 200 and body == b""
    assert int(h["content-length"]) > 0 and h["x-server-name"] == "A"


def test_python_http_server_file(world):
    d, c, a, b = world
    bash(c, a, "mkdir -p site && echo 'hello from slot A' > site/hello.txt && "
         "cd site && setsid nohup python3 -m http.server 8001 --bind 127.0.0.1 "
         ">/dev/null 2>&1 </dev/null & " + WAIT_LISTEN % 8001)
    st, h, body = px(d, a, 8001, "/hello.txt")
    assert st == 200 and body == b"hello from slot A\n"
    # slot B has no server on 8001
    st, h, body = px(d, b, 8001, "/hello.txt")
    assert st == 502 and json.loads(body)["error"]["code"] == "port_unreachable"


def test_bodies_pass_through(world):
    d, c, a, b = world
    data = os.urandom(3 << 20)
    for method in ("POST", "PUT", "PATCH"):
        st, h, body = px(d, a, PORT, "/upload", method=method, body=data,
                         headers={"Content-Type": "application/octet-stream"})
        doc = json.loads(body)
        assert st == 200 and doc["method"] == method
        assert doc["body_len"] == len(data)
        assert doc["body_sha"] == hashlib.sha256(data).hexdigest()
    for method in ("DELETE", "OPTIONS"):
        st, h, body = px(d, a, PORT, "/thing", method=method)
        assert st == 200 and json.loads(body)["method"] == method
    # a chunked request body stays chunked
    parts = [os.urandom(70000) for _ in range(5)]
    conn = _UnixConnection(d.socket, timeout=60)
    conn.request("POST", "/v1/slots/%s/ports/%d/chunky" % (a, PORT),
                 body=iter(parts), encode_chunked=True)
    resp = conn.getresponse()
    doc = json.loads(resp.read())
    conn.close()
    assert doc["body_sha"] == hashlib.sha256(b"".join(parts)).hexdigest()
    assert ["Transfer-Encoding", "chunked"] in doc["headers"]


def test_large_and_chunked_responses(world):
    d, c, a, b = world
    n = 50 << 20
    conn = _UnixConnection(d.socket, timeout=60)
    conn.request("GET", "/v1/slots/%s/ports/%d/big?n=%d" % (a, PORT, n))
    resp = conn.getresponse()
    assert resp.status == 200 and int(resp.getheader("Content-Length")) == n
    got = 0
    while True:
        chunk = resp.read(1 << 20)
        if not chunk:
            break
        got += len(chunk)
    conn.close()
    assert got == n
    st, h, body = px(d, a, PORT, "/chunked?n=40")
    assert st == 200 and h.get("transfer-encoding") == "chunked"
    assert body == b"".join(("part%d-" % i).encode() * 100 for i in range(40))


def test_hop_by_hop_headers_removed(world):
    d, c, a, b = world
    st, h, body = px(d, a, PORT, "/h", headers={
        "Connection": "keep-alive, X-Secret",
        "X-Secret": "hop only",
        "Keep-Alive": "timeout=9",
        "TE": "trailers",
        "Proxy-Authorization": "Basic Zm9vOmJhcg==",
        "X-Forwarded-For": "6.6.6.6",
        "Authorization": "Bearer app-token",  # unix socket: the app's own
        "Cookie": "a=1;slotbox_token=deadbeef;b=2;c=3",
        "X-Kept": "yes",
    })
    assert st == 200, body
    seen = {k.lower(): v for k, v in json.loads(body)["headers"]}
    for gone in ("x-secret", "keep-alive", "te", "proxy-authorization"):
        assert gone not in seen, seen
    assert seen["x-kept"] == "yes"
    assert seen["connection"] == "close"  # ours, not the client's
    assert seen["host"] == "127.0.0.1:%d" % PORT
    assert seen["x-forwarded-host"] == "localhost"
    assert seen["x-forwarded-proto"] == "http"
    assert seen["x-forwarded-prefix"] == "/v1/slots/%s/ports/%d" % (a, PORT)
    assert "6.6.6.6" not in seen.get("x-forwarded-for", "")
    assert seen["authorization"] == "Bearer app-token"
    assert seen["cookie"] == "a=1; b=2; c=3"
    # and in the answer: Keep-Alive and what its Connection named are gone
    assert "keep-alive" not in h and "x-hop" not in h
    assert h["x-server-name"] == "A" and h["connection"] == "close"


def test_each_slot_reaches_only_its_own_loopback(world):
    d, c, a, b = world
    for slot, name in ((a, "A"), (b, "B")):
        st, h, body = px(d, slot, PORT, "/who")
        assert st == 200 and json.loads(body)["name"] == name
    # the host's loopback is not the slot's: a host server on a port that no
    # slot listens on is not reached
    srv = http.server.HTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        hp = srv.server_address[1]
        for slot in (a, b):
            st, h, body = px(d, slot, hp, "/")
            assert st == 502, body
            err = json.loads(body)["error"]
            assert err["code"] == "port_unreachable"
        # with network: host (documented) the slot shares the host's
        # loopback, and so does its proxy
        hs = api(c, "POST", "/v1/slots", {"profile": "hostnet"}, 201)["slot_id"]
        st, h, body = px(d, hs, hp, "/")
        assert st == 200
        api(c, "DELETE", "/v1/slots/%s" % hs, None, 204)
    finally:
        srv.shutdown()
        srv.server_close()


@pytest.mark.parametrize("port", ["0", "65536", "99999", "abc", "80x", "-1", ""])
def test_bad_ports(world, port):
    d, c, a, b = world
    st, h, body = px(d, a, port, "/")
    assert st == 400, body
    assert json.loads(body)["error"]["code"] == "bad_request"


def test_unknown_slot_and_ended_lease(world):
    d, c, a, b = world
    st, h, body = px(d, "nosuch_slot_0.1", PORT, "/")
    assert st == 404
    stale = a.rsplit(".", 1)[0] + ".999"
    st, h, body = px(d, stale, PORT, "/")
    assert st == 409 and json.loads(body)["error"]["code"] == "slot_not_leased"


BAD_SERVER = """
import socket, sys
s = socket.socket()
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen()
while True:
    c, _ = s.accept()
    if sys.argv[2] == "reset":      # reads a little, closes with data unread
        c.recv(10)
    elif sys.argv[2] == "eof":      # reads the request, ends without answer
        c.recv(65536)
        c.shutdown(socket.SHUT_WR)
        c.recv(65536)
    else:                           # answers something that is not HTTP
        c.recv(65536)
        c.sendall(b"SSH-2.0-OpenSSH\\r\\n\\r\\n")
    c.close()
"""


def test_misbehaving_servers_get_502(world):
    d, c, a, b = world
    code, body = c.request("PUT", "/v1/slots/%s/file?path=bad.py" % a,
                           BAD_SERVER.encode(), raw=True)
    assert code in (200, 201), body
    for port, mode in ((8101, "reset"), (8102, "eof"), (8103, "garbage")):
        bash(c, a, "setsid nohup python3 bad.py %d %s >/dev/null 2>&1 </dev/null & %s"
             % (port, mode, WAIT_LISTEN % port))
        st, h, body = px(d, a, port, "/x", method="POST", body=b"y" * 100000)
        assert st == 502, (mode, body)
        assert json.loads(body)["error"]["code"] == "upstream_error", body
    # the daemon is fine
    st, h, body = px(d, a, PORT, "/ok")
    assert st == 200


def ws_connect(d, slot, port):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(d.socket)
    key = base64.b64encode(os.urandom(16)).decode()
    s.sendall(("GET /v1/slots/%s/ports/%d/ws HTTP/1.1\r\nHost: localhost\r\n"
               "Upgrade: websocket\r\nConnection: Upgrade\r\n"
               "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n"
               % (slot, port, key)).encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = s.recv(1)
        assert chunk, head
        head += chunk
    assert head.startswith(b"HTTP/1.1 101"), head
    want = base64.b64encode(hashlib.sha1(
        (key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest())
    assert b"Sec-WebSocket-Accept: " + want in head
    assert re.search(rb"(?i)\r\nupgrade: websocket\r\n", head)
    return s


def ws_send(s, data, op=1):
    mask = os.urandom(4)
    hdr = bytes([0x80 | op])
    hdr += bytes([0x80 | len(data)]) if len(data) < 126 else \
        bytes([0x80 | 126]) + struct.pack(">H", len(data))
    s.sendall(hdr + mask + bytes(x ^ mask[i % 4] for i, x in enumerate(data)))


def ws_recv(s):
    def need(n):
        out = b""
        while len(out) < n:
            chunk = s.recv(n - len(out))
            assert chunk, "tunnel closed"
            out += chunk
        return out
    h = need(2)
    ln = h[1] & 0x7F
    if ln == 126:
        ln = struct.unpack(">H", need(2))[0]
    return h[0] & 0x0F, need(ln)


def test_websocket_echo(world):
    d, c, a, b = world
    s = ws_connect(d, a, PORT)
    for msg in (b"hello", b"x" * 5000, "żółw".encode()):
        ws_send(s, msg)
        assert ws_recv(s) == (1, b"A:" + msg)
    ws_send(s, b"", op=8)
    assert ws_recv(s)[0] == 8
    s.close()
    s = ws_connect(d, b, PORT)  # the other slot's own server
    ws_send(s, b"hi")
    assert ws_recv(s) == (1, b"B:hi")
    s.close()


def test_slow_reader_costs_bounded_memory(world):
    d, c, a, b = world
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    s.settimeout(20)
    s.connect(d.socket)
    s.sendall(b"GET /v1/slots/%s/ports/%d/big?n=%d HTTP/1.1\r\nHost: x\r\n\r\n"
              % (a.encode(), PORT, 1 << 30))
    got = 0
    while got < (1 << 20):
        got += len(s.recv(65536))
    before = d.rss_kib()
    with d.peak_rss() as w:
        time.sleep(3)  # the server could send GBs meanwhile
    assert w.kib - before < 32 * 1024, (before, w.kib)
    # and it still flows when the client reads again
    more = 0
    while more < (8 << 20):
        more += len(s.recv(1 << 20))
    s.close()
    # the daemon dropped it: the API still answers
    st, h, body = px(d, a, PORT, "/after")
    assert st == 200


@pytest.mark.parametrize("end", ["release", "reset", "expiry"])
def test_lease_end_ends_proxied_connections(world, end):
    d, c, a, b = world
    ttl = {"ttl_s": 3} if end == "expiry" else {}
    lease = api(c, "POST", "/v1/slots", ttl, 201)["slot_id"]  # a third slot
    start_server(c, lease, PORT, "C")
    # a response that never ends, and a WebSocket
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(15)
    s.connect(d.socket)
    s.sendall(b"GET /v1/slots/%s/ports/%d/big?n=%d HTTP/1.1\r\nHost: x\r\n\r\n"
              % (lease.encode(), PORT, 1 << 40))
    assert s.recv(65536)
    ws = ws_connect(d, lease, PORT)
    ws_send(ws, b"ping")
    assert ws_recv(ws) == (1, b"C:ping")
    if end != "expiry":
        api(c, "DELETE", "/v1/slots/%s?reset=%s" % (
            lease, "true" if end == "reset" else "false"), None, 204)
    for sock in (s, ws):
        deadline = time.monotonic() + 20
        while True:  # drains what was in flight, then EOF
            try:
                if not sock.recv(1 << 20):
                    break
            except ConnectionResetError:
                break
            assert time.monotonic() < deadline, "still open after release"
        sock.close()
    st, h, body = px(d, lease, PORT, "/")
    assert st == 409


def test_tcp_needs_the_token_and_never_forwards_it(make_daemon, tmp_path):
    token = tmp_path / "token"
    token.write_text("s3cret-token-for-ports\n")
    os.chmod(token, 0o600)
    d = make_daemon(POOL, args=["--listen", "tcp://127.0.0.1:0", "--token-file", str(token)])
    m = re.search(r"listening.*?port\W+(\d+)", d.read_log())
    port = int(m.group(1))
    c = d.client()
    slot = api(c, "POST", "/v1/slots", {}, 201)["slot_id"]
    start_server(c, slot, PORT, "T")
    path = "/v1/slots/%s/ports/%d/t" % (slot, PORT)
    st, h, body = tcp_exchange(port, "GET", path)
    assert st == 401
    st, h, body = tcp_exchange(port, "GET", path, headers={
        "Authorization": "Bearer wrong"})
    assert st == 401
    st, h, body = tcp_exchange(port, "POST", path, body=b"abc", headers={
        "Authorization": "Bearer s3cret-token-for-ports"})
    assert st == 200, body
    doc = json.loads(body)
    seen = {k.lower(): v for k, v in doc["headers"]}
    assert doc["name"] == "T" and doc["body"] == "abc"
    assert "authorization" not in seen
    assert "s3cret" not in body.decode()
    assert seen["x-forwarded-for"] == "127.0.0.1"


def test_concurrent_requests_and_no_descriptor_leak(world):
    d, c, a, b = world

    def fds():
        return len(os.listdir("/proc/%d/fd" % d.proc.pid))

    px(d, a, PORT, "/warm")
    px(d, b, PORT, "/warm")
    before = fds()
    errors = []

    def worker(i):
        try:
            slot, name = (a, "A") if i % 2 else (b, "B")
            for j in range(10):
                st, h, body = px(d, slot, PORT, "/c%d/%d" % (i, j), method="POST",
                                 body=b"%d-%d" % (i, j))
                doc = json.loads(body)
                assert st == 200 and doc["name"] == name
                assert doc["body"] == "%d-%d" % (i, j)
                st, h, body = px(d, slot, 8999, "/")  # nothing listens
                assert st == 502
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(repr(e))

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[:3]
    deadline = time.monotonic() + 10
    while fds() > before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert fds() <= before, (before, fds())
