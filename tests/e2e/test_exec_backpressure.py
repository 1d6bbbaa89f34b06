# SPDX-License-Identifier: Apache-2.0
"""Back-pressure on a slot's channel: many concurrent calls into one sandbox
queue in the daemon and all run; none is answered `sandbox_lost` because the
channel to the slot's leader was momentarily full (EAGAIN on its
non-blocking socket)."""
import asyncio
import json

from conftest import api

ONE_SANDBOX = """
profiles:
  default:
    slots_per_sandbox: 4
    min_sandboxes: 1
    max_sandboxes: 1
    execution_timeout_s: 120
"""

ONE_SLOT = """
profiles:
  default:
    slots_per_sandbox: 1
    min_sandboxes: 1
    max_sandboxes: 1
    execution_timeout_s: 120
"""


async def _request(sock, method, path, body):
    """One HTTP/1.1 request on its own connection -> (status, json)."""
    reader, writer = await asyncio.open_unix_connection(sock, limit=1 << 20)
    try:
        data = json.dumps(body).encode()
        writer.write((f"{method} {path} HTTP/1.1\r\nHost: x\r\n"
                      f"Content-Type: application/json\r\n"
                      f"Content-Length: {len(data)}\r\nConnection: close\r\n\r\n"
                      ).encode() + data)
        await writer.drain()
        raw = await reader.read()
    finally:
        writer.close()
    head, _, rest = raw.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    if b"chunked" in head.lower():
        out, pos = b"", 0
        while True:
            eol = rest.index(b"\r\n", pos)
            n = int(rest[pos:eol], 16)
            if n == 0:
                break
            out += rest[eol + 2:eol + 2 + n]
            pos = eol + 2 + n + 2
        rest = out
    return status, json.loads(rest) if rest else None


def _burst(sock, slots, n, command="true"):
    async def run():
        jobs = [_request(sock, "POST", f"/v1/slots/{slots[i % len(slots)]}/exec",
                         {"tool": "bash", "args": {"command": command},
                          "timeout_s": 120})
                for i in range(n)]
        return await asyncio.gather(*jobs)
    return asyncio.run(run())


def _failures(results):
    return [(s, b) for s, b in results
            if s != 200 or not b.get("success")]


def test_thousand_calls_into_one_sandbox(make_daemon):
    d = make_daemon(ONE_SANDBOX)
    c = d.client()
    slots = [api(c, "POST", "/v1/slots", {"timeout_s": 60}, 201)["slot_id"]
             for _ in range(4)]
    assert len({api(c, "GET", f"/v1/slots/{s}")["sandbox_id"] for s in slots}) == 1
    results = _burst(d.socket, slots, 1000)
    bad = _failures(results)
    assert not bad, (len(bad), bad[:3])
    # the daemon still serves every slot afterwards
    for s in slots:
        r = api(c, "POST", f"/v1/slots/{s}/exec",
                {"tool": "bash", "args": {"command": "echo ok"}}, 200)
        assert r["output"].strip() == "ok"


def test_more_calls_than_a_leader_runs_at_once(make_daemon):
    """One slot, 600 concurrent calls: more than a slot leader runs at once
    (256); the rest wait in the daemon and run as places free."""
    d = make_daemon(ONE_SLOT)
    c = d.client()
    slot = api(c, "POST", "/v1/slots", {"timeout_s": 60}, 201)["slot_id"]
    results = _burst(d.socket, [slot], 600, "sleep 0.2")
    bad = _failures(results)
    assert not bad, (len(bad), bad[:3])
    st = api(c, "GET", f"/v1/slots/{slot}", None, 200)
    assert st["state"] == "acquired", st
