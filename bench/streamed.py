#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Streamed exec next to plain exec (issue 21): one phase of bench/run
(rows in section "stream"), measured in the same run on the same daemon
and slot, the two kinds of call taking turns (ABAB...) so that drift
affects both alike. Both go through the same minimal keep-alive HTTP
client (http.client over the unix socket), so the difference is the
daemon's: the NDJSON answer (chunked, an event per chunk, then the result)
against the one JSON answer. Target: streamed p50 <= 1.1 x plain p50.

    rows: exec bash -c 'echo hi': plain, streamed; and the ratio in notes
"""
import http.client
import json
import socket

S_HI = "exec bash -c 'echo hi'"
PLAIN = "slotbox plain exec (http.client)"
STREAMED = "slotbox streamed exec (http.client)"
TARGET = 1.1

S_FIRST = "first event of bash -c 'echo first; sleep 0.2'"
FIRST = "slotbox streamed exec (http.client)"
FIRST_TARGET_MS = 50

EXPECTED = [("stream", PLAIN, S_HI), ("stream", STREAMED, S_HI), ("stream", FIRST, S_FIRST)]


class _Conn(http.client.HTTPConnection):
    def __init__(self, path):
        super().__init__("localhost", timeout=60)
        self._path = path

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(self._path)
        self.sock = s


def _call(conn, slot_id, stream):
    body = {"tool": "bash", "args": {"command": "echo hi"}}
    if stream:
        body["stream"] = True
    conn.request("POST", f"/v1/slots/{slot_id}/exec", body=json.dumps(body).encode(),
                 headers={"Content-Type": "application/json"})
    resp = conn.getresponse()
    if resp.status != 200:
        raise RuntimeError(f"exec answered {resp.status}: {resp.read()[:200]!r}")
    if not stream:
        r = json.loads(resp.read())
        out = r["output"]
    else:
        out, r = "", None
        for line in resp:
            e = json.loads(line)
            if e["type"] == "stdout":
                out += e["data"]
            elif e["type"] == "result":
                r = e["result"]
    if out != "hi\n" or not r or not r["success"]:
        raise RuntimeError(f"exec (stream={stream}) gave {out!r}")


def _first_event(conn, slot_id):
    """Microseconds from sending a streamed call to its first output
    event, for a command that goes on for 0.2 s after printing."""
    import time
    body = {"tool": "bash", "stream": True,
            "args": {"command": "echo first; sleep 0.2"}}
    t = time.perf_counter()
    conn.request("POST", f"/v1/slots/{slot_id}/exec", body=json.dumps(body).encode(),
                 headers={"Content-Type": "application/json"})
    resp = conn.getresponse()
    first = json.loads(resp.readline())
    dt = (time.perf_counter() - t) * 1e6
    if first != {"type": "stdout", "data": "first\n"}:
        raise RuntimeError(f"first event {first!r}")
    rest = [json.loads(x) for x in resp]
    if rest[-1]["type"] != "result":
        raise RuntimeError("no result")
    return dt


def phase(bench, d, slot_id, n):
    """Measure n calls of each kind in turns on slot_id of daemon d."""
    import time
    conn = _Conn(d.socket)
    for _ in range(10):
        _call(conn, slot_id, False)
        _call(conn, slot_id, True)
    xs = {False: [], True: []}
    for i in range(2 * n):
        stream = bool(i % 2)
        t = time.perf_counter()
        _call(conn, slot_id, stream)
        xs[stream].append((time.perf_counter() - t) * 1e6)
    conn.close()
    plain = bench.add("stream", PLAIN, S_HI, xs[False],
                      notes="one JSON answer; in turns with the streamed calls")
    streamed = bench.add("stream", STREAMED, S_HI, xs[True],
                         notes="NDJSON events + result, chunked; in turns with the plain calls")
    ratio = streamed["p50_us"] / plain["p50_us"]
    streamed["notes"] += f"; p50 {ratio:.2f}x plain (target <= {TARGET}x)"
    bench.ok(STREAMED, f"streamed echo hi gave hi; p50 {ratio:.2f}x plain")
    conn = _Conn(d.socket)
    k = max(5, n // 20)
    xs = [_first_event(conn, slot_id) for _ in range(k)]
    conn.close()
    bench.add("stream", FIRST, S_FIRST, xs,
              notes=f"time to the first stdout event, the command still running "
                    f"(target <= {FIRST_TARGET_MS} ms); compare the plain call's p50 above")
