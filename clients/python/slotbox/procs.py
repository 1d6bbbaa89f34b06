# SPDX-License-Identifier: Apache-2.0
"""API 1.1 long-running work: streamed exec events, background processes
with handles (sync Process, asyncio AsyncProcess) and answers from a server
reached through a slot's port proxy.

    p = client.start_process(slot, "python3 -m http.server 8000")
    client.port_request(slot, 8000, "GET", "/")       # through /v1/slots/{id}/ports/8000/
    for ev in p.stream():                             # output as it is written
        print(ev.text, end="")
    p.interrupt(); p.wait()
"""
import asyncio
import base64
import json
import signal as _signal
import time
import urllib.parse
from dataclasses import dataclass, field
from typing import Any, Dict, Optional, Union

from .types import ExecutionResult

# The longest NDJSON line a client accepts (an output chunk as base64, or
# the final ExecutionResult with its capped output).
MAX_EVENT_LINE = 64 << 20
# One long-poll's wait while wait() waits for a process to end: short
# enough that no proxy or idle timeout cuts the request.
WAIT_SLICE_S = 20.0


def _decode(value, encoding):
    if value is None:
        return ""
    if encoding == "base64":
        return base64.b64decode(value)
    return value


def _as_text(data) -> str:
    return data.decode("utf-8", "replace") if isinstance(data, (bytes, bytearray)) else data


@dataclass
class StreamEvent:
    """One NDJSON event of a streamed exec or process output.

    type: "stdout" / "stderr" (data: str, or bytes when the daemon sent
    base64 because the chunk was not UTF-8), "result" (result: the final
    ExecutionResult), or another type the daemon sends (e.g. the end of a
    process, with exit_code). raw is the event as it came."""
    type: str
    data: Union[str, bytes] = ""
    result: Optional[ExecutionResult] = None
    exit_code: Optional[int] = None
    raw: Dict[str, Any] = field(default_factory=dict)

    @property
    def text(self) -> str:
        """data as text (undecodable bytes replaced)."""
        return _as_text(self.data)

    @property
    def is_output(self) -> bool:
        return self.type in ("stdout", "stderr")

    @classmethod
    def from_api(cls, d: Dict[str, Any]) -> "StreamEvent":
        t = str(d.get("type", ""))
        ev = cls(type=t, raw=d)
        if t in ("stdout", "stderr"):
            ev.data = _decode(d.get("data"), d.get("encoding"))
        res = d.get("result")
        if isinstance(res, dict):
            if "metadata" in res or "success" in res:  # exec's ExecutionResult
                ev.result = ExecutionResult.from_api(res)
                rc = ev.result.metadata.get("returncode")
                ev.exit_code = rc if isinstance(rc, int) else None
            elif isinstance(res.get("exit_code"), int):  # a process's end
                ev.exit_code = res["exit_code"]
        if isinstance(d.get("exit_code"), int):
            ev.exit_code = d["exit_code"]
        return ev

    @property
    def size(self) -> int:
        """Bytes of output this event carries (what it moves a process's
        output offset by)."""
        if not self.is_output:
            return 0
        return len(self.data) if isinstance(self.data, bytes) else len(self.data.encode())


def parse_event_line(line: bytes) -> Optional[StreamEvent]:
    line = line.strip()
    if not line:
        return None
    return StreamEvent.from_api(json.loads(line))


@dataclass
class ProcessOutput:
    """GET .../processes/{id}/output: the output past `since`, the offset to
    ask from next, whether the process still runs, its exit code once it
    ended, and how many bytes the bounded ring dropped before they were
    read."""
    stdout: Union[str, bytes] = ""
    stderr: Union[str, bytes] = ""
    next: int = 0
    running: bool = True
    exit_code: Optional[int] = None
    dropped: int = 0
    raw: Dict[str, Any] = field(default_factory=dict)

    @property
    def text(self) -> str:
        """stdout then stderr as text (a pty's stream is all stdout)."""
        return _as_text(self.stdout) + _as_text(self.stderr)

    @classmethod
    def from_api(cls, d: Dict[str, Any]) -> "ProcessOutput":
        enc = d.get("encoding")
        return cls(stdout=_decode(d.get("stdout"), d.get("stdout_encoding", enc)),
                   stderr=_decode(d.get("stderr"), d.get("stderr_encoding", enc)),
                   next=int(d.get("next") or 0), running=bool(d.get("running")),
                   exit_code=d.get("exit_code"), dropped=int(d.get("dropped") or 0), raw=d)


@dataclass
class PortResponse:
    """An answer from a server inside a slot, through the port proxy (or
    the daemon's own error, e.g. 502 port_unreachable)."""
    status: int
    headers: Dict[str, str]
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def error_code(self) -> Optional[str]:
        """The daemon's error code when the proxy itself answered an error
        ({"error": {"code": ...}}), else None."""
        if self.status < 400:
            return None
        try:
            return self.json()["error"]["code"]
        except (ValueError, KeyError, TypeError):
            return None


def _next_offset(offset, ev) -> int:
    """A process's output offset after ev: its bytes, a drop, or the end's
    own figure."""
    res = ev.raw.get("result")
    if isinstance(res, dict) and isinstance(res.get("next"), int):
        return res["next"]
    if isinstance(ev.raw.get("next"), int):
        return ev.raw["next"]
    if ev.type == "dropped" and isinstance(ev.raw.get("bytes"), int):
        return offset + ev.raw["bytes"]
    return offset + ev.size


def signal_name(sig) -> str:
    """"INT" for 2, signal.SIGINT, "SIGINT" or "int"."""
    if isinstance(sig, int):
        return _signal.Signals(sig).name[3:]
    s = str(sig).upper()
    return s[3:] if s.startswith("SIG") else s


def pty_body(pty) -> Optional[Dict[str, int]]:
    """pty: True (24x80), (rows, cols), or {"rows", "cols"}."""
    if pty is None or pty is False:
        return None
    if pty is True:
        return {"rows": 24, "cols": 80}
    if isinstance(pty, dict):
        return {"rows": int(pty["rows"]), "cols": int(pty["cols"])}
    rows, cols = pty
    return {"rows": int(rows), "cols": int(cols)}


# The most stdin one request carries (the daemon's bound); a longer write
# goes in pieces, each retried while the process's queue is full (429).
STDIN_CHUNK = 1 << 20
STDIN_FULL_WAIT_S = 60.0


def stdin_pieces(data, eof):
    """(piece, eof) for each request of one write."""
    if isinstance(data, str):
        data = data.encode()
    data = bytes(data)
    pieces = [data[i:i + STDIN_CHUNK] for i in range(0, len(data), STDIN_CHUNK)] or [b""]
    return [(piece, eof and i == len(pieces) - 1) for i, piece in enumerate(pieces)]


def process_body(command, env=None, cwd=None, pty=None, stdin=None,
                 merge_output=None) -> Dict[str, Any]:
    body: Dict[str, Any] = {"command": command}
    if stdin is not None:
        body["stdin"] = stdin
    if merge_output is not None:
        body["merge_output"] = bool(merge_output)
    if env:
        body["env"] = dict(env)
    if cwd:
        body["cwd"] = cwd
    p = pty_body(pty)
    if p:
        body["pty"] = p
    return body


def process_path(slot_id, process_id, suffix="") -> str:
    return (f"/v1/slots/{urllib.parse.quote(slot_id, safe='')}/processes/"
            f"{urllib.parse.quote(str(process_id), safe='')}{suffix}")


def port_path(slot_id, port, path="") -> str:
    """/v1/slots/{id}/ports/{port}/{path} (path's own query kept)."""
    port = int(port)
    if not 1 <= port <= 65535:
        raise ValueError(f"port {port} is outside 1-65535")
    return (f"/v1/slots/{urllib.parse.quote(slot_id, safe='')}/ports/{port}/"
            + str(path or "").lstrip("/"))


def port_url(endpoint, slot_id, port, path="") -> str:
    """A URL for slot's port on the daemon at endpoint: http://host:port/...
    over TCP (send the bearer token, see Client.auth_headers()), or
    http+unix://<escaped socket path>/... for a unix socket (the form
    requests-unixsocket and similar clients take)."""
    p = port_path(slot_id, port, path)
    if endpoint.startswith(("http://", "https://")):
        return endpoint.rstrip("/") + p
    return "http+unix://" + urllib.parse.quote(endpoint, safe="") + p


def _slot_id(slot):
    return getattr(slot, "slot_id", slot)


class Process:
    """A background process in a slot (Client.start_process / process).

    offset is where output() and stream() continue from by default: each
    call moves it past what it returned, so repeated output() calls see
    every byte once. exit_code is set once the process is seen to end."""

    def __init__(self, client, slot, process_id, pid=None, info=None):
        self.client = client
        self.slot_id = _slot_id(slot)
        self.process_id = process_id
        self.pid = pid
        self.info = dict(info or {})
        self.offset = 0
        self.exit_code: Optional[int] = None
        self.running = True

    def __repr__(self):
        return f"Process({self.slot_id!r}, {self.process_id!r}, pid={self.pid})"

    def _seen(self, running, exit_code):
        if not running:
            self.running = False
            self.exit_code = exit_code

    def output(self, since: Optional[int] = None, wait_s: float = 0.0) -> ProcessOutput:
        """Output past since (default: self.offset, which then moves on);
        waits up to wait_s for some when there is none yet."""
        o = self.client.process_output(self.slot_id, self.process_id,
                                       self.offset if since is None else since, wait_s)
        if since is None:
            self.offset = o.next
        self._seen(o.running, o.exit_code)
        return o

    def stream(self, since: Optional[int] = None):
        """Output events as they are written until the process ends (the
        last event says how it ended); from self.offset by default."""
        for ev in self.client.process_stream(self.slot_id, self.process_id,
                                             self.offset if since is None else since):
            if since is None:
                self.offset = _next_offset(self.offset, ev)
            if ev.type == "result":
                self._seen(False, ev.exit_code)
            yield ev

    def write_stdin(self, data: Union[str, bytes]) -> None:
        self.client.process_stdin(self.slot_id, self.process_id, data)

    def close_stdin(self) -> None:
        self.client.process_stdin(self.slot_id, self.process_id, b"", eof=True)

    def signal(self, sig="INT") -> None:
        """INT goes to the process's foreground group (as Ctrl-C would)."""
        self.client.process_signal(self.slot_id, self.process_id, sig)

    def interrupt(self) -> None:
        self.signal("INT")

    def resize(self, rows: int, cols: int) -> None:
        self.client.process_resize(self.slot_id, self.process_id, rows, cols)

    def kill(self) -> None:
        """Kill its whole tree; the daemon then forgets it (later calls on
        it raise ProcessNotFound; wait() returns None at once)."""
        self.client.kill_process(self.slot_id, self.process_id)
        self._seen(False, None)

    def poll(self) -> Optional[int]:
        """The exit code once it ended, else None (reads nothing away)."""
        if self.running:
            o = self.client.process_output(self.slot_id, self.process_id, self.offset, 0)
            self._seen(o.running, o.exit_code)
        return self.exit_code

    def wait(self, timeout: Optional[float] = None) -> Optional[int]:
        """Block until it ends; its exit code. TimeoutError after timeout
        seconds. Output is read past (self.offset does not move)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        since = self.offset
        while self.running:
            left = WAIT_SLICE_S if deadline is None else deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"process {self.process_id} still runs")
            o = self.client.process_output(self.slot_id, self.process_id, since,
                                           min(left, WAIT_SLICE_S))
            since = o.next
            self._seen(o.running, o.exit_code)
        return self.exit_code


class AsyncProcess(Process):
    """Process for AsyncClient: the same methods, as coroutines (stream()
    is an async iterator)."""

    async def output(self, since: Optional[int] = None, wait_s: float = 0.0) -> ProcessOutput:
        o = await self.client.process_output(self.slot_id, self.process_id,
                                             self.offset if since is None else since, wait_s)
        if since is None:
            self.offset = o.next
        self._seen(o.running, o.exit_code)
        return o

    async def stream(self, since: Optional[int] = None):
        async for ev in self.client.process_stream(self.slot_id, self.process_id,
                                                   self.offset if since is None else since):
            if since is None:
                self.offset = _next_offset(self.offset, ev)
            if ev.type == "result":
                self._seen(False, ev.exit_code)
            yield ev

    async def write_stdin(self, data: Union[str, bytes]) -> None:
        await self.client.process_stdin(self.slot_id, self.process_id, data)

    async def close_stdin(self) -> None:
        await self.client.process_stdin(self.slot_id, self.process_id, b"", eof=True)

    async def signal(self, sig="INT") -> None:
        await self.client.process_signal(self.slot_id, self.process_id, sig)

    async def interrupt(self) -> None:
        await self.signal("INT")

    async def resize(self, rows: int, cols: int) -> None:
        await self.client.process_resize(self.slot_id, self.process_id, rows, cols)

    async def kill(self) -> None:
        await self.client.kill_process(self.slot_id, self.process_id)
        self._seen(False, None)

    async def poll(self) -> Optional[int]:
        if self.running:
            o = await self.client.process_output(self.slot_id, self.process_id, self.offset, 0)
            self._seen(o.running, o.exit_code)
        return self.exit_code

    async def wait(self, timeout: Optional[float] = None) -> Optional[int]:
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        since = self.offset
        while self.running:
            left = WAIT_SLICE_S if deadline is None else deadline - loop.time()
            if left <= 0:
                raise TimeoutError(f"process {self.process_id} still runs")
            o = await self.client.process_output(self.slot_id, self.process_id, since,
                                                 min(left, WAIT_SLICE_S))
            since = o.next
            self._seen(o.running, o.exit_code)
        return self.exit_code
