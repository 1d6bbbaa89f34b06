# SPDX-License-Identifier: Apache-2.0
"""asyncio-native client: one coroutine per endpoint of API.md, no thread per call.

    async with AsyncClient() as c:          # $SLOTBOX_URL / $SLOTBOX_SOCKET
        slot = await c.acquire("traj-1")
        r = await c.bash(slot, "make test", timeout_s=60)
        await c.release(slot)

The transport speaks HTTP/1.1 itself over asyncio streams (unix socket or
TCP) with a pool of keep-alive connections. A call that is cancelled or
times out closes its connection, which makes the daemon kill that call's
process tree; exec calls also carry a client-chosen execution_id so that
cancel() can name them.
"""
import asyncio
import json
import urllib.parse
import uuid
from typing import Any, AsyncIterator, Dict, Iterable, List, Optional, Tuple

from . import archives
from .errors import NotFound, SlotboxError, error_for
from .procs import (MAX_EVENT_LINE, AsyncProcess, PortResponse, ProcessOutput, StreamEvent,
                    STDIN_FULL_WAIT_S, parse_event_line, port_path, port_url, process_body,
                    process_path, pty_body, signal_name, stdin_pieces)
from .transport import resolve_endpoint, tune_tcp
from .types import ExecutionResult, Slot

# Seconds a request may run past its own timeout_s before the client gives
# up on the answer (the daemon's deadline fires first; this covers the
# kill, the answer and a busy host).
MARGIN_S = 30.0
# The deadline of a call that names no timeout_s: the daemon's own (the
# profile's execution or acquire timeout) bounds it, not the client.
NO_DEADLINE = float("inf")
_MAX_HEAD = 64 * 1024


def _q(**params):
    return "?" + urllib.parse.urlencode({k: v for k, v in params.items() if v is not None})


def _bool(v):
    return None if v is None else ("true" if v else "false")


def _sid(slot):
    return getattr(slot, "slot_id", slot)


class _Conn:
    __slots__ = ("reader", "writer")

    def __init__(self, reader, writer):
        self.reader = reader
        self.writer = writer

    def close(self):
        # abort(): no half-close dance, the peer sees the close at once
        # (that is what cancels the call daemon-side).
        tr = self.writer.transport
        if tr is not None and not tr.is_closing():
            tr.abort()


class AsyncTransport:
    """HTTP/1.1 keep-alive connections over asyncio streams.

    endpoint: "unix:///path.sock", a bare socket path, or "http://host:port"
    (then a bearer token is sent). timeout: seconds for a request that names
    none of its own. Connections are made as needed (max_connections at once;
    further requests wait for one) and up to max_idle are kept for reuse."""

    def __init__(self, endpoint=None, token=None, timeout=300.0, connect_timeout=10.0,
                 max_connections=4096, max_idle=256):
        endpoint, token = resolve_endpoint(endpoint, token)
        self.endpoint = endpoint
        self.token = token
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self._idle: List[_Conn] = []
        self._max_idle = max_idle
        self._max_connections = max_connections
        self._sem = None  # made on first use, inside the running loop
        self._loop = None
        if endpoint.startswith(("http://", "https://")):
            u = urllib.parse.urlsplit(endpoint)
            self._tcp = (u.hostname, u.port or 80)
            self._host = u.netloc
        else:
            self._tcp = None
            self._host = "localhost"

    async def _connect(self):
        if self._tcp:
            r, w = await asyncio.wait_for(asyncio.open_connection(*self._tcp, limit=_MAX_HEAD),
                                          self.connect_timeout)
            sock = w.get_extra_info("socket")
            if sock is not None:
                tune_tcp(sock)
        else:
            r, w = await asyncio.wait_for(asyncio.open_unix_connection(self.endpoint, limit=_MAX_HEAD),
                                          self.connect_timeout)
        return _Conn(r, w)

    def _take_idle(self):
        while self._idle:
            c = self._idle.pop()
            if not c.writer.is_closing() and not c.reader.at_eof():
                return c
            c.close()
        return None

    def _put(self, conn):
        if len(self._idle) < self._max_idle:
            self._idle.append(conn)
        else:
            conn.close()

    async def request(self, method, path, body=None, raw=False, headers=None, expect_json=True,
                      timeout=None):
        """One request; returns (status, parsed JSON or bytes). Raises the
        typed SlotboxError subclass for error answers, asyncio.TimeoutError
        when no answer came within timeout (default: the transport's)."""
        status, _, data = await self.request_full(method, path, body, raw, headers, timeout)
        if status >= 400:
            self._raise(status, data)
        if not expect_json:
            return status, data
        return status, (json.loads(data) if data else None)

    async def request_full(self, method, path, body=None, raw=False, headers=None, timeout=None):
        """(status, headers dict with lowercase names, body bytes), any status."""
        payload = self._payload(method, path, body, raw, headers)
        self._bind_loop()
        limit = self.timeout if timeout is None else timeout
        async with self._sem:
            if limit == NO_DEADLINE:
                return await self._exchange(method, payload)
            return await asyncio.wait_for(self._exchange(method, payload), limit)

    def _payload(self, method, path, body, raw, headers):
        if body is not None and not raw:
            body = json.dumps(body).encode()
        head = [f"{method} {path} HTTP/1.1", f"Host: {self._host}"]
        names = {k.lower() for k in (headers or {})}
        if body is not None and "content-type" not in names:
            ctype = "application/octet-stream" if raw else "application/json"
            head.append(f"Content-Type: {ctype}")
        if body is not None or method in ("POST", "PUT", "PATCH"):
            head.append(f"Content-Length: {len(body or b'')}")
        if self.token:
            head.append(f"Authorization: Bearer {self.token}")
        for k, v in (headers or {}).items():
            if k.lower() not in ("content-length", "host", "transfer-encoding"):
                head.append(f"{k}: {v}")
        return ("\r\n".join(head) + "\r\n\r\n").encode() + (body or b"")

    def _bind_loop(self):
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            # Streams belong to the loop that made them: a client used from
            # a new loop (another asyncio.run) starts a fresh pool there
            # (the old loop is closed; its connections go with it).
            self._idle, self._loop = [], loop
            self._sem = asyncio.Semaphore(self._max_connections)
        return loop

    async def stream(self, method, path, body=None, timeout=None):
        """Send a JSON request whose answer is NDJSON; yield each line
        (bytes) as it arrives. Error answers raise as in request(); timeout
        bounds the whole answer (NO_DEADLINE: none). Leaving the iteration
        early closes the connection, which cancels a call daemon-side."""
        payload = self._payload(method, path, body, False, None)
        loop = self._bind_loop()
        limit = self.timeout if timeout is None else timeout
        deadline = None if limit == NO_DEADLINE else loop.time() + limit

        def left():
            return None if deadline is None else max(0.0, deadline - loop.time())

        async with self._sem:
            conn = self._take_idle()
            reused = conn is not None
            try:
                try:
                    if conn is None:
                        conn = await self._connect()
                    status, hdrs = await asyncio.wait_for(self._send_head(conn, payload), left())
                except (ConnectionError, asyncio.IncompleteReadError):
                    if not reused:
                        raise
                    conn.close()
                    conn = await self._connect()
                    status, hdrs = await asyncio.wait_for(self._send_head(conn, payload), left())
                if status >= 400:
                    data, _ = await asyncio.wait_for(self._read_body(conn, method, status, hdrs),
                                                     left())
                    conn.close()
                    self._raise(status, data)
                reusable = hdrs.get("connection", "").lower() != "close"
                async for line in self._body_lines(conn, hdrs, left):
                    yield line
                if "chunked" not in hdrs.get("transfer-encoding", "").lower() and \
                        "content-length" not in hdrs:
                    reusable = False
            except BaseException:
                conn is not None and conn.close()
                raise
            if reusable:
                self._put(conn)
            else:
                conn.close()

    @staticmethod
    async def _send_head(conn, payload):
        conn.writer.write(payload)
        await conn.writer.drain()
        return await AsyncTransport._read_head(conn)

    @staticmethod
    async def _body_lines(conn, hdrs, left):
        """The body's lines, as its chunks come in."""
        buf = bytearray()
        chunked = "chunked" in hdrs.get("transfer-encoding", "").lower()
        remaining = int(hdrs["content-length"]) if "content-length" in hdrs and not chunked else None
        while True:
            if chunked:
                size_line = await asyncio.wait_for(conn.reader.readuntil(b"\r\n"), left())
                size = int(size_line.split(b";", 1)[0].strip(), 16)
                if size == 0:
                    while await asyncio.wait_for(conn.reader.readuntil(b"\r\n"), left()) != b"\r\n":
                        pass  # trailers
                    break
                data = await asyncio.wait_for(conn.reader.readexactly(size), left())
                await asyncio.wait_for(conn.reader.readexactly(2), left())
            elif remaining is not None:
                if remaining == 0:
                    break
                data = await asyncio.wait_for(conn.reader.read(min(remaining, 65536)), left())
                if not data:
                    raise ConnectionError("the answer ended early")
                remaining -= len(data)
            else:
                data = await asyncio.wait_for(conn.reader.read(65536), left())
                if not data:
                    break
            buf += data
            if len(buf) > MAX_EVENT_LINE and b"\n" not in buf:
                raise SlotboxError(200, "protocol", "an NDJSON line is too long")
            while True:
                nl = buf.find(b"\n")
                if nl < 0:
                    break
                line = bytes(buf[:nl])
                del buf[:nl + 1]
                if line.strip():
                    yield line
        if buf.strip():
            yield bytes(buf)

    @staticmethod
    def _raise(status, data):
        try:
            err = json.loads(data)["error"]
        except (ValueError, KeyError, TypeError):
            raise SlotboxError(status, "internal", data[:200].decode(errors="replace")) from None
        raise error_for(status, err.get("code", "internal"), err.get("message", ""))

    async def _exchange(self, method, payload):
        conn = self._take_idle()
        reused = conn is not None
        if conn is None:
            conn = await self._connect()
        try:
            try:
                conn.writer.write(payload)
                await conn.writer.drain()
                status, hdrs = await self._read_head(conn)
            except (ConnectionError, asyncio.IncompleteReadError):
                if not reused:
                    raise
                # A kept-alive connection the daemon had closed: the request
                # never reached it; once more on a fresh one.
                conn.close()
                conn = await self._connect()
                conn.writer.write(payload)
                await conn.writer.drain()
                status, hdrs = await self._read_head(conn)
            data, reusable = await self._read_body(conn, method, status, hdrs)
        except BaseException:
            # Also on cancellation and timeout: the closed connection tells
            # the daemon to stop the call.
            conn.close()
            raise
        if reusable:
            self._put(conn)
        else:
            conn.close()
        return status, hdrs, data

    @staticmethod
    async def _read_head(conn):
        line = await conn.reader.readuntil(b"\r\n")
        parts = line.decode("latin-1").split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1."):
            raise ConnectionError(f"bad status line {line[:80]!r}")
        status = int(parts[1])
        hdrs = {}
        while True:
            line = await conn.reader.readuntil(b"\r\n")
            if line == b"\r\n":
                break
            k, _, v = line.decode("latin-1").partition(":")
            hdrs[k.strip().lower()] = v.strip()
        return status, hdrs

    @staticmethod
    async def _read_body(conn, method, status, hdrs):
        close = hdrs.get("connection", "").lower() == "close"
        if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
            return b"", not close
        if "chunked" in hdrs.get("transfer-encoding", "").lower():
            out = bytearray()
            while True:
                size_line = await conn.reader.readuntil(b"\r\n")
                size = int(size_line.split(b";", 1)[0].strip(), 16)
                if size == 0:
                    while await conn.reader.readuntil(b"\r\n") != b"\r\n":
                        pass  # trailers
                    break
                out += await conn.reader.readexactly(size)
                await conn.reader.readexactly(2)
            return bytes(out), not close
        if "content-length" in hdrs:
            return await conn.reader.readexactly(int(hdrs["content-length"])), not close
        return await conn.reader.read(), False

    async def close(self):
        idle, self._idle = self._idle, []
        for c in idle:
            c.close()


class AsyncClient:
    """The API as coroutines; the same methods and answers as Client."""

    def __init__(self, endpoint: Optional[str] = None, token: Optional[str] = None,
                 timeout: float = 300.0, margin_s: float = MARGIN_S, **transport_kw):
        self.transport = AsyncTransport(endpoint, token, timeout, **transport_kw)
        self.endpoint = self.transport.endpoint
        self.margin_s = margin_s

    async def close(self):
        await self.transport.close()

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        await self.close()

    def _limit(self, timeout_s):
        """The HTTP deadline of a request that runs up to timeout_s (none
        of the client's own without it: the daemon's deadline applies)."""
        return NO_DEADLINE if timeout_s is None else float(timeout_s) + self.margin_s

    async def _json(self, method, path, body=None, timeout=None):
        return (await self.transport.request(method, path, body, timeout=timeout))[1]

    # pool
    async def health(self) -> Dict[str, Any]:
        return await self._json("GET", "/v1/health")

    async def profiles(self) -> Dict[str, Any]:
        return await self._json("GET", "/v1/profiles")

    async def status(self) -> Dict[str, Any]:
        return await self._json("GET", "/v1/status")

    # leases
    async def acquire(self, trajectory_id: Optional[str] = None, profile: Optional[str] = None,
                      timeout_s: Optional[float] = None, ttl_s: Optional[float] = None,
                      snapshot: Optional[str] = None) -> Slot:
        body = {k: v for k, v in (("trajectory_id", trajectory_id), ("profile", profile),
                                  ("timeout_s", timeout_s), ("ttl_s", ttl_s),
                                  ("snapshot", snapshot)) if v is not None}
        d = await self._json("POST", "/v1/slots", body, self._limit(timeout_s))
        return Slot.from_api(d, self.endpoint)

    async def slot(self, slot_id: str) -> Slot:
        return Slot.from_api(await self._json("GET", f"/v1/slots/{slot_id}"), self.endpoint)

    async def release(self, slot, reset: bool = True) -> None:
        await self.transport.request("DELETE", f"/v1/slots/{_sid(slot)}" + _q(reset=_bool(reset)))

    async def renew(self, slot, ttl_s: Optional[float] = None) -> Slot:
        body = {} if ttl_s is None else {"ttl_s": ttl_s}
        return Slot.from_api(await self._json("POST", f"/v1/slots/{_sid(slot)}/renew", body),
                             self.endpoint)

    async def fork(self, slot, count: int = 1, trajectory_ids: Optional[List[str]] = None,
                   ttl_s: Optional[float] = None, timeout_s: Optional[float] = None) -> List[Slot]:
        body = {"count": count}
        for k, v in (("trajectory_ids", trajectory_ids), ("ttl_s", ttl_s), ("timeout_s", timeout_s)):
            if v is not None:
                body[k] = list(v) if k == "trajectory_ids" else v
        r = await self._json("POST", f"/v1/slots/{_sid(slot)}/fork", body, self._limit(timeout_s))
        return fork_slots(r, self.endpoint)

    async def snapshot(self, slot, name: str) -> Dict[str, Any]:
        return await self._json("POST", f"/v1/slots/{_sid(slot)}/snapshot", {"name": name})

    async def snapshots(self) -> List[Dict[str, Any]]:
        return (await self._json("GET", "/v1/snapshots"))["snapshots"]

    async def delete_snapshot(self, name: str) -> None:
        await self.transport.request("DELETE", "/v1/snapshots/" + urllib.parse.quote(name, safe=""))

    # tools
    async def exec(self, slot, tool: str, args: Dict[str, Any], timeout_s: Optional[float] = None,
                   execution_id: Optional[str] = None) -> ExecutionResult:
        """Run one tool call. execution_id names the call (default: a fresh
        one) so that cancel(execution_id) can stop it; cancelling the task
        that awaits this closes the connection, which stops it too."""
        body = {"tool": tool, "args": args, "execution_id": execution_id or new_execution_id()}
        if timeout_s is not None:
            body["timeout_s"] = timeout_s
        d = await self._json("POST", f"/v1/slots/{_sid(slot)}/exec", body, self._limit(timeout_s))
        return ExecutionResult.from_api(d)

    async def bash(self, slot, command: str, timeout_s: Optional[float] = None,
                   execution_id: Optional[str] = None, **args) -> ExecutionResult:
        """bash -c command in the slot; args: stdin, env, cwd, merge_output."""
        return await self.exec(slot, "bash", dict(command=command, **args), timeout_s, execution_id)

    async def cancel(self, execution_id: str) -> bool:
        """Kill a running call's process tree (its answer says error_class
        "cancelled"). False when no call of that id is running."""
        try:
            await self.transport.request("DELETE", "/v1/executions/" +
                                         urllib.parse.quote(execution_id, safe=""), timeout=10)
        except SlotboxError as e:
            if e.status in (404, 405, 409):
                return False
            raise
        return True

    async def exec_batch(self, requests: Iterable[Tuple[Any, str, Dict[str, Any]]],
                         timeout_s: Optional[float] = None) -> List[ExecutionResult]:
        """All calls at once (one request each, on as many connections), in
        order. A call that cannot be run at all (slot not leased, ...) gives
        a failed result with error_class "infra" rather than an exception."""
        reqs = list(requests)

        async def one(slot, tool, args):
            try:
                return await self.exec(slot, tool, args, timeout_s)
            except SlotboxError as e:
                return ExecutionResult(success=False, error=str(e), slot_id=_sid(slot),
                                       metadata={"error_class": "infra", "error_code": e.code})
        return list(await asyncio.gather(*(one(*r) for r in reqs)))

    # files
    async def read_file(self, slot, path: str, encoding: str = "text",
                        max_bytes: Optional[int] = None, sha256: bool = False) -> Dict[str, Any]:
        return await self._json("GET", f"/v1/slots/{_sid(slot)}/file" + _q(
            path=path, encoding=encoding, max_bytes=max_bytes, sha256=_bool(sha256)))

    async def write_file(self, slot, path: str, data) -> Dict[str, Any]:
        if isinstance(data, str):
            data = data.encode()
        return (await self.transport.request("PUT", f"/v1/slots/{_sid(slot)}/file" + _q(path=path),
                                             bytes(data), raw=True))[1]

    async def list(self, slot, path: str = ".", recursive: bool = False,
                   max_entries: Optional[int] = None, long: bool = False) -> Dict[str, Any]:
        """long: entries as {path, is_dir, size, mtime} (API 1.1)."""
        return await self._json("GET", f"/v1/slots/{_sid(slot)}/list" + _q(
            path=path, recursive=_bool(recursive), max_entries=max_entries,
            long="true" if long else None))

    async def archive(self, slot, path: str = ".", format: str = "tar.gz",
                      max_bytes: Optional[int] = None) -> bytes:
        fmt = "tar.gz" if format == "tgz" else format
        return (await self.transport.request(
            "GET", f"/v1/slots/{_sid(slot)}/archive" + _q(path=path, format=fmt, max_bytes=max_bytes),
            expect_json=False))[1]

    async def upload_archive(self, slot, data: bytes, path: str = ".",
                             format: str = "tar.gz") -> Dict[str, Any]:
        """Extract an archive (bytes) under path in the workspace (API 1.1:
        PUT /archive; links out, .., absolute names and devices refused)."""
        fmt = "tar.gz" if format == "tgz" else format
        return (await self.transport.request(
            "PUT", f"/v1/slots/{_sid(slot)}/archive" + _q(path=path, format=fmt),
            bytes(data), raw=True))[1]

    async def upload_dir(self, slot, local_dir: str, path: str = ".") -> Dict[str, Any]:
        """Copy a local directory's contents under path in the workspace (a
        tar.gz built in memory, off the event loop's thread only while the
        bytes are compressed)."""
        data = await asyncio.get_running_loop().run_in_executor(None, archives.tar_gz_dir, local_dir)
        return await self.upload_archive(slot, data, path, "tar.gz")


    # streamed exec, processes and ports (API 1.1)
    async def exec_stream(self, slot, command: str, timeout_s: Optional[float] = None,
                          execution_id: Optional[str] = None,
                          **args) -> AsyncIterator[StreamEvent]:
        """bash -c command with its output as it is written: an async
        iterator of StreamEvents ("stdout"/"stderr" chunks in order, then
        one "result" whose .result is the ExecutionResult). args: stdin,
        env, cwd, merge_output, pty=(rows, cols). Leaving the loop early
        (or cancelling the task) cancels the call."""
        if "pty" in args:
            args["pty"] = pty_body(args["pty"])
            if args["pty"] is None:
                del args["pty"]
        body = {"tool": "bash", "args": dict(command=command, **args), "stream": True,
                "execution_id": execution_id or new_execution_id()}
        if timeout_s is not None:
            body["timeout_s"] = timeout_s
        async for line in self.transport.stream("POST", f"/v1/slots/{_sid(slot)}/exec", body,
                                                self._limit(timeout_s)):
            ev = parse_event_line(line)
            if ev is not None:
                yield ev

    async def start_process(self, slot, command: str, env: Optional[Dict[str, str]] = None,
                            cwd: Optional[str] = None, pty=None, stdin: Optional[str] = None,
                            merge_output: Optional[bool] = None) -> AsyncProcess:
        """Start bash -c command in the background; its handle (see
        Client.start_process)."""
        sid = _sid(slot)
        d = await self._json("POST", f"/v1/slots/{sid}/processes",
                             process_body(command, env, cwd, pty, stdin, merge_output))
        return AsyncProcess(self, sid, d["process_id"], d.get("pid"), d)

    async def processes(self, slot) -> List[Dict[str, Any]]:
        return (await self._json("GET", f"/v1/slots/{_sid(slot)}/processes"))["processes"]

    async def process(self, slot, process_id: str) -> AsyncProcess:
        """A handle on a process started earlier, to re-attach."""
        sid = _sid(slot)
        for p in await self.processes(sid):
            if p.get("process_id") == process_id:
                return AsyncProcess(self, sid, process_id, p.get("pid"), p)
        raise NotFound(404, "not_found", f"no process {process_id} in slot {sid}")

    async def process_output(self, slot, process_id: str, since: int = 0,
                             wait_s: float = 0.0) -> ProcessOutput:
        q = _q(since=int(since), wait_s=(wait_s or None))
        d = await self._json("GET", process_path(_sid(slot), process_id, "/output" + q),
                             timeout=float(wait_s) + self.margin_s)
        return ProcessOutput.from_api(d)

    async def process_stream(self, slot, process_id: str,
                             since: int = 0) -> AsyncIterator[StreamEvent]:
        path = process_path(_sid(slot), process_id, "/output" + _q(since=int(since),
                                                                    stream="true"))
        async for line in self.transport.stream("GET", path, None, NO_DEADLINE):
            ev = parse_event_line(line)
            if ev is not None:
                yield ev

    async def process_stdin(self, slot, process_id: str, data=b"", eof: bool = False) -> None:
        """See Client.process_stdin."""
        loop = asyncio.get_running_loop()
        for piece, last in stdin_pieces(data, eof):
            path = process_path(_sid(slot), process_id, "/stdin" + (_q(eof="true") if last else ""))
            deadline, pause = loop.time() + STDIN_FULL_WAIT_S, 0.01
            while True:
                try:
                    await self.transport.request("POST", path, piece, raw=True)
                    break
                except SlotboxError as e:
                    if e.status != 429 or loop.time() > deadline:
                        raise
                await asyncio.sleep(pause)
                pause = min(pause * 2, 0.2)

    async def process_signal(self, slot, process_id: str, sig="INT") -> None:
        await self._json("POST", process_path(_sid(slot), process_id, "/signal"),
                         {"signal": signal_name(sig)})

    async def process_resize(self, slot, process_id: str, rows: int, cols: int) -> None:
        await self._json("POST", process_path(_sid(slot), process_id, "/resize"),
                         {"rows": int(rows), "cols": int(cols)})

    async def kill_process(self, slot, process_id: str) -> None:
        await self.transport.request("DELETE", process_path(_sid(slot), process_id))

    def slot_url(self, slot, port: int, path: str = "") -> str:
        """See Client.slot_url."""
        return port_url(self.endpoint, _sid(slot), port, path)

    def auth_headers(self) -> Dict[str, str]:
        t = self.transport.token
        return {"Authorization": f"Bearer {t}"} if t else {}

    async def port_request(self, slot, port: int, method: str = "GET", path: str = "/",
                           body=None, headers: Optional[Dict[str, str]] = None,
                           timeout: Optional[float] = None) -> PortResponse:
        """One HTTP request to the server on port inside the slot; its
        answer whatever its status (see Client.port_request)."""
        if isinstance(body, str):
            body = body.encode()
        status, hdrs, data = await self.transport.request_full(
            method, port_path(_sid(slot), port, path), None if body is None else bytes(body),
            True, headers, timeout)
        return PortResponse(status, hdrs, data)

def fork_slots(answer, endpoint) -> List[Slot]:
    """The fork's slots, each keeping the fork's figures (copied bytes and
    entries, copy/frozen/total ms) in metadata["fork"]."""
    figures = {k: v for k, v in answer.items() if k != "slots"}
    slots = [Slot.from_api(s, endpoint) for s in answer["slots"]]
    for s in slots:
        s.metadata["fork"] = dict(figures)
    return slots


def new_execution_id() -> str:
    return "py-" + uuid.uuid4().hex
