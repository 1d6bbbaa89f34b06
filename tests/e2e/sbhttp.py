# SPDX-License-Identifier: Apache-2.0
"""A tiny HTTP/1.1 client over a unix socket, standard library only."""
import http.client
import json
import socket


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout=120):
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        s.connect(self._path)
        self.sock = s


class UnixClient:
    """Keep-alive connection; reconnects when the server closed it."""

    def __init__(self, path, timeout=120):
        self.path = path
        self.timeout = timeout
        self.conn = None

    def request(self, method, path, body=None, headers=None, raw=False):
        if body is not None and not raw:
            body = json.dumps(body).encode()
        hdrs = {"Content-Type": "application/json"} if body is not None else {}
        hdrs.update(headers or {})
        for attempt in (0, 1):
            if self.conn is None:
                self.conn = _UnixConnection(self.path, self.timeout)
            try:
                self.conn.request(method, path, body=body, headers=hdrs)
                resp = self.conn.getresponse()
                data = resp.read()
                if resp.getheader("Connection", "").lower() == "close":
                    self.close()
                return resp.status, data
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                self.close()
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def exchange(conn, method, path, body=None, headers=None):
    """One request on a fresh http.client connection (unix or TCP):
    (status, {lower-case header: value}, body bytes). Repeated headers
    (Set-Cookie) are joined with ", "."""
    if isinstance(body, (dict, list)):
        body = json.dumps(body).encode()
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        data = resp.read()
        hdrs = {}
        for k, v in resp.getheaders():
            k = k.lower()
            hdrs[k] = hdrs[k] + ", " + v if k in hdrs else v
        return resp.status, hdrs, data
    finally:
        conn.close()


def unix_exchange(path, *args, **kw):
    return exchange(_UnixConnection(path), *args, **kw)


def tcp_exchange(port, *args, **kw):
    return exchange(http.client.HTTPConnection("127.0.0.1", port, timeout=120),
                    *args, **kw)
