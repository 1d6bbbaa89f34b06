# SPDX-License-Identifier: Apache-2.0
"""Reading the NDJSON answers of streamed exec and process output
(API.md 1.1) event by event, with the time each one arrived."""
import json
import time

from sbhttp import _UnixConnection


def open_stream(sock_path, method, path, body=None, timeout=60):
    """Send a request on a fresh connection; returns (conn, response)."""
    conn = _UnixConnection(sock_path, timeout)
    data = json.dumps(body).encode() if body is not None else None
    hdrs = {"Content-Type": "application/json"} if data is not None else {}
    conn.request(method, path, body=data, headers=hdrs)
    return conn, conn.getresponse()


def events(resp):
    """Yield (monotonic arrival time, event) for each line of the answer."""
    while True:
        line = resp.readline()
        if not line:
            return
        yield time.monotonic(), json.loads(line)


def stream_exec(sock_path, sid, command, timeout=60, **body):
    """A whole streamed bash call: (status, headers, [(t, event)])."""
    conn, resp = open_stream(sock_path, "POST", f"/v1/slots/{sid}/exec",
                             {"tool": "bash", "args": {"command": command},
                              "stream": True, **body}, timeout)
    try:
        if resp.status != 200:
            return resp.status, dict(resp.getheaders()), json.loads(resp.read())
        return resp.status, dict(resp.getheaders()), list(events(resp))
    finally:
        conn.close()
