# SPDX-License-Identifier: Apache-2.0
"""HTTP/1.1 keep-alive connections to slotboxd over a unix socket or TCP."""
import http.client
import json
import os
import socket
import threading
import urllib.parse

from .errors import SlotboxError, error_for

DEFAULT_SOCKET = "/run/slotbox/slotbox.sock"
# The longest NDJSON line a streamed answer may carry.
MAX_LINE = 64 << 20


def default_endpoint():
    """$SLOTBOX_URL, else $SLOTBOX_SOCKET, else the default socket (the CLI
    and libslotbox look in the same places)."""
    return os.environ.get("SLOTBOX_URL") or os.environ.get("SLOTBOX_SOCKET") or DEFAULT_SOCKET


def default_token():
    """The first line of $SLOTBOX_TOKEN_FILE, if set."""
    path = os.environ.get("SLOTBOX_TOKEN_FILE")
    if not path:
        return None
    with open(path) as f:
        return f.readline().strip() or None


def resolve_endpoint(endpoint=None, token=None):
    """(endpoint, token) as both clients use them: the default endpoint
    when none is given, the token file's token for an http endpoint
    without one, and a unix:// endpoint as its bare socket path."""
    endpoint = endpoint or default_endpoint()
    if token is None and endpoint.startswith(("http://", "https://")):
        token = default_token()
    if endpoint.startswith("unix://"):
        endpoint = endpoint[len("unix://"):]
    return endpoint, token


# A body up to this size goes out in one write with the request's head.
COALESCE_MAX = 64 << 10


class _OneWriteMixin:
    """http.client writes a request's head and its body with two sends:
    the daemon then wakes for the head, finds the body missing and waits
    for another wake-up. A small body goes in the head's write instead.
    (_send_output and _buffer are http.client's own, unchanged since
    Python 3.6; anything else takes http.client's way.)"""

    def _send_output(self, message_body=None, encode_chunked=False):
        buf = getattr(self, "_buffer", None)
        if (isinstance(message_body, (bytes, bytearray)) and not encode_chunked
                and len(message_body) <= COALESCE_MAX and isinstance(buf, list)):
            buf.extend((b"", b""))
            msg = b"\r\n".join(buf) + message_body
            del buf[:]
            self.send(msg)
            return
        super()._send_output(message_body, encode_chunked)


class _UnixHTTPConnection(_OneWriteMixin, http.client.HTTPConnection):
    def __init__(self, path, timeout):
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        s.connect(self._path)
        self.sock = s


class _TCPConnection(_OneWriteMixin, http.client.HTTPConnection):
    """Connects within connect_timeout, then reads with the (long) call
    timeout: a node that is down must fail over in seconds, while a call
    may rightly run for minutes."""

    def __init__(self, host, port, timeout, connect_timeout):
        super().__init__(host, port, timeout=timeout)
        self._connect_timeout = connect_timeout

    def connect(self):
        self.sock = socket.create_connection((self.host, self.port), self._connect_timeout)
        tune_tcp(self.sock)
        self.sock.settimeout(self.timeout)


# A node whose host vanishes (power, network: no RST comes back) is noticed
# within about KEEPALIVE_S even in the middle of a long call: keepalive
# probes after 5 s of silence, every 2 s, 3 unanswered ones end the
# connection; data the peer has not acknowledged for as long ends it too.
# A daemon that is merely busy still has a kernel that answers them.
KEEPALIVE_S = 15


def tune_tcp(sock):
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, 5)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, 2)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, 3)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, KEEPALIVE_S * 1000)


class Transport:
    """A small pool of keep-alive connections, safe to share between threads.

    endpoint: "unix:///path/to.sock", a bare socket path, or "http://host:port"
    (then token is required: it is sent as a bearer token). connect_timeout
    (TCP only) bounds the connect alone; None: the call timeout does.
    """

    def __init__(self, endpoint=None, token=None, timeout=300.0, max_idle=32,
                 connect_timeout=None):
        endpoint, token = resolve_endpoint(endpoint, token)
        self.endpoint = endpoint
        self.token = token
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self._idle = []
        self._max_idle = max_idle
        self._lock = threading.Lock()
        if endpoint.startswith(("http://", "https://")):
            u = urllib.parse.urlsplit(endpoint)
            self._tcp = (u.hostname, u.port or 80)
        else:
            self._tcp = None

    def _new(self):
        if self._tcp:
            connect = self.timeout if self.connect_timeout is None else self.connect_timeout
            return _TCPConnection(*self._tcp, self.timeout, connect)
        return _UnixHTTPConnection(self.endpoint, self.timeout)

    def _get(self):
        with self._lock:
            if self._idle:
                return self._idle.pop(), True
        return self._new(), False

    def _put(self, conn):
        with self._lock:
            if len(self._idle) < self._max_idle:
                self._idle.append(conn)
                return
        conn.close()

    def _headers(self, body, raw, headers):
        hdrs = {}
        if body is not None:
            hdrs["Content-Type"] = "application/octet-stream" if raw else "application/json"
        if self.token:
            hdrs["Authorization"] = f"Bearer {self.token}"
        hdrs.update(headers or {})
        return hdrs

    def request(self, method, path, body=None, raw=False, headers=None, expect_json=True,
                timeout=None):
        """Send one request; returns (status, parsed JSON or bytes).
        Raises the typed SlotboxError subclass for error answers. timeout:
        this request's socket timeout instead of the transport's."""
        if body is not None and not raw:
            body = json.dumps(body).encode()
        hdrs = self._headers(body, raw, headers)
        resp, conn = self._roundtrip(method, path, body, hdrs, timeout)
        try:
            data = resp.read()
        except BaseException:
            conn.close()
            raise
        self._finish(conn, resp)
        if resp.status >= 400:
            self._raise(resp.status, data)
        if not expect_json:
            return resp.status, data
        return resp.status, (json.loads(data) if data else None)

    def request_raw(self, method, path, body=None, headers=None, timeout=None):
        """Any answer as (status, headers dict with lowercase names, body
        bytes), errors included: for a server behind the port proxy, whose
        answers are its own. body: bytes or None; headers pass through."""
        hdrs = self._headers(None, True, headers)
        resp, conn = self._roundtrip(method, path, body, hdrs, timeout)
        try:
            data = resp.read()
        except BaseException:
            conn.close()
            raise
        self._finish(conn, resp)
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data

    def stream(self, method, path, body=None, timeout=None):
        """Send a JSON request whose answer is NDJSON; yield each line as
        it arrives (bytes). Error answers raise as in request(). Closing
        the generator early closes the connection (which cancels a call
        daemon-side)."""
        if body is not None:
            body = json.dumps(body).encode()
        hdrs = self._headers(body, False, None)
        resp, conn = self._roundtrip(method, path, body, hdrs, timeout)
        done = False
        try:
            if resp.status >= 400:
                data = resp.read()
                done = True
                self._raise(resp.status, data)
            while True:
                line = resp.readline(MAX_LINE + 1)
                if not line:
                    break
                if len(line) > MAX_LINE:
                    raise SlotboxError(resp.status, "protocol", "an NDJSON line is too long")
                if line.strip():
                    yield line
            done = True
        finally:
            if done:
                self._finish(conn, resp)
            else:
                conn.close()

    def _roundtrip(self, method, path, body, hdrs, timeout):
        """Send and read the answer's head: (response, connection), the
        body still to read. A kept-alive connection the server had closed
        is retried once on a fresh one (the request never reached it)."""
        conn, reused = self._get()
        try:
            return self._send(conn, method, path, body, hdrs, timeout), conn
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
            conn.close()
            if not reused:
                raise
        except BaseException:
            conn.close()
            raise
        conn = self._new()
        try:
            return self._send(conn, method, path, body, hdrs, timeout), conn
        except BaseException:
            conn.close()
            raise

    def _send(self, conn, method, path, body, hdrs, timeout):
        if timeout is not None:
            t = None if timeout == float("inf") else timeout  # inf: no deadline
            conn.timeout = t  # used by connect()
            if conn.sock is not None:
                conn.sock.settimeout(t)
        conn.request(method, path, body=body, headers=hdrs)
        return conn.getresponse()

    def _finish(self, conn, resp):
        """The answer was read whole: keep the connection for reuse, with
        the transport's own timeout back."""
        if resp.getheader("Connection", "").lower() == "close" or not resp.isclosed():
            conn.close()
            return
        conn.timeout = self.timeout
        if conn.sock is not None:
            conn.sock.settimeout(self.timeout)
        self._put(conn)

    @staticmethod
    def _raise(status, data):
        try:
            err = json.loads(data)["error"]
        except (ValueError, KeyError, TypeError):
            raise SlotboxError(status, "internal", data[:200].decode(errors="replace")) from None
        raise error_for(status, err.get("code", "internal"), err.get("message", ""))

    def close(self):
        with self._lock:
            idle, self._idle = self._idle, []
        for c in idle:
            c.close()
