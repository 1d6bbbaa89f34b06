# SPDX-License-Identifier: Apache-2.0
"""Synchronous client: one method per endpoint of API.md."""
import time
import urllib.parse
from typing import Any, Dict, Iterable, Iterator, List, Optional, Tuple

from . import archives
from .aio import MARGIN_S, NO_DEADLINE, fork_slots, new_execution_id
from .errors import NotFound, SlotboxError
from .procs import (PortResponse, Process, ProcessOutput, StreamEvent, parse_event_line,
                    port_path, port_url, process_body, process_path, pty_body, signal_name,
                    stdin_pieces, STDIN_FULL_WAIT_S)
from .transport import Transport
from .types import ExecutionResult, Slot


def _q(**params):
    return "?" + urllib.parse.urlencode({k: v for k, v in params.items() if v is not None})


def _bool(v):
    return None if v is None else ("true" if v else "false")


class Client:
    def __init__(self, endpoint: Optional[str] = None, token: Optional[str] = None,
                 timeout: float = 300.0, margin_s: float = MARGIN_S):
        """A call that runs work (exec, acquire, fork) may take its
        timeout_s + margin_s, or without timeout_s as long as the daemon's
        own deadline lets it; other requests may take timeout seconds."""
        self.transport = Transport(endpoint, token, timeout)
        self.endpoint = self.transport.endpoint
        self.margin_s = margin_s

    def _limit(self, timeout_s):
        return NO_DEADLINE if timeout_s is None else float(timeout_s) + self.margin_s

    def close(self):
        self.transport.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _json(self, method, path, body=None, timeout=None):
        return self.transport.request(method, path, body, timeout=timeout)[1]

    # pool
    def health(self) -> Dict[str, Any]:
        return self._json("GET", "/v1/health")

    def profiles(self) -> Dict[str, Any]:
        return self._json("GET", "/v1/profiles")

    def status(self) -> Dict[str, Any]:
        return self._json("GET", "/v1/status")

    # leases
    def acquire(self, trajectory_id: Optional[str] = None, profile: Optional[str] = None,
                timeout_s: Optional[float] = None, ttl_s: Optional[float] = None,
                snapshot: Optional[str] = None) -> Slot:
        """Lease a slot. With ttl_s the lease ends by itself once no call
        has touched the slot for that long (a crashed trainer's slots come
        back); any call, or renew(), is a sign of life. With snapshot the
        workspace starts as that snapshot (its profile is implied)."""
        body = {k: v for k, v in (("trajectory_id", trajectory_id), ("profile", profile),
                                  ("timeout_s", timeout_s), ("ttl_s", ttl_s),
                                  ("snapshot", snapshot)) if v is not None}
        return Slot.from_api(self._json("POST", "/v1/slots", body, self._limit(timeout_s)),
                             self.endpoint)

    # forks and snapshots
    def fork(self, slot, count: int = 1, trajectory_ids: Optional[List[str]] = None,
             ttl_s: Optional[float] = None, timeout_s: Optional[float] = None) -> List[Slot]:
        """count new leases whose workspaces start as a copy of slot's
        workspace now (GRPO's G rollouts, a search tree's branches). The
        source keeps running; its processes are not copied."""
        sid = getattr(slot, "slot_id", slot)
        body = {"count": count}
        for k, v in (("trajectory_ids", trajectory_ids), ("ttl_s", ttl_s),
                     ("timeout_s", timeout_s)):
            if v is not None:
                body[k] = list(v) if k == "trajectory_ids" else v
        r = self._json("POST", f"/v1/slots/{sid}/fork", body, self._limit(timeout_s))
        return fork_slots(r, self.endpoint)

    def snapshot(self, slot, name: str) -> Dict[str, Any]:
        """Save slot's workspace as snapshot `name` (kept across daemon
        restarts); acquire(snapshot=name) starts a slot from it."""
        sid = getattr(slot, "slot_id", slot)
        return self._json("POST", f"/v1/slots/{sid}/snapshot", {"name": name})

    def snapshots(self) -> List[Dict[str, Any]]:
        return self._json("GET", "/v1/snapshots")["snapshots"]

    def delete_snapshot(self, name: str) -> None:
        self.transport.request("DELETE", "/v1/snapshots/" + urllib.parse.quote(name, safe=""))

    def renew(self, slot, ttl_s: Optional[float] = None) -> Slot:
        """Keep a TTL lease alive without a call; ttl_s changes it (0: no expiry)."""
        sid = getattr(slot, "slot_id", slot)
        body = {} if ttl_s is None else {"ttl_s": ttl_s}
        return Slot.from_api(self._json("POST", f"/v1/slots/{sid}/renew", body), self.endpoint)

    def slot(self, slot_id: str) -> Slot:
        return Slot.from_api(self._json("GET", f"/v1/slots/{slot_id}"), self.endpoint)

    def release(self, slot, reset: bool = True) -> None:
        sid = getattr(slot, "slot_id", slot)
        self.transport.request("DELETE", f"/v1/slots/{sid}" + _q(reset=_bool(reset)))

    # tools
    def exec(self, slot, tool: str, args: Dict[str, Any], timeout_s: Optional[float] = None,
             execution_id: Optional[str] = None) -> ExecutionResult:
        """execution_id names the call (default: a fresh one) so another
        thread can cancel(execution_id) it."""
        sid = getattr(slot, "slot_id", slot)
        body = {"tool": tool, "args": args, "execution_id": execution_id or new_execution_id()}
        if timeout_s is not None:
            body["timeout_s"] = timeout_s
        return ExecutionResult.from_api(self._json("POST", f"/v1/slots/{sid}/exec", body,
                                                   self._limit(timeout_s)))

    def bash(self, slot, command: str, timeout_s: Optional[float] = None,
             execution_id: Optional[str] = None, **args) -> ExecutionResult:
        return self.exec(slot, "bash", dict(command=command, **args), timeout_s, execution_id)

    def cancel(self, execution_id: str) -> bool:
        """Kill a running call's process tree; False when none of that id runs."""
        try:
            self.transport.request("DELETE", "/v1/executions/" +
                                   urllib.parse.quote(execution_id, safe=""), timeout=10)
        except SlotboxError as e:
            if e.status in (404, 405, 409):
                return False
            raise
        return True

    def exec_batch(self, requests: Iterable[Tuple[Any, str, Dict[str, Any]]],
                   timeout_s: Optional[float] = None) -> List[ExecutionResult]:
        reqs = [{"slot_id": getattr(s, "slot_id", s), "tool": t, "args": a} for s, t, a in requests]
        if not reqs:
            return []
        body = {"requests": reqs}
        if timeout_s is not None:
            body["timeout_s"] = timeout_s
        r = self._json("POST", "/v1/exec", body, self._limit(timeout_s))
        return [ExecutionResult.from_api(x) for x in r["results"]]

    # files
    def read_file(self, slot, path: str, encoding: str = "text", max_bytes: Optional[int] = None,
                  sha256: bool = False) -> Dict[str, Any]:
        sid = getattr(slot, "slot_id", slot)
        return self._json("GET", f"/v1/slots/{sid}/file" + _q(path=path, encoding=encoding,
                                                              max_bytes=max_bytes, sha256=_bool(sha256)))

    def write_file(self, slot, path: str, data: bytes) -> Dict[str, Any]:
        sid = getattr(slot, "slot_id", slot)
        if isinstance(data, str):
            data = data.encode()
        return self.transport.request("PUT", f"/v1/slots/{sid}/file" + _q(path=path), data, raw=True)[1]

    def list(self, slot, path: str = ".", recursive: bool = False,
             max_entries: Optional[int] = None, long: bool = False) -> Dict[str, Any]:
        """long: entries as {path, is_dir, size, mtime} (API 1.1)."""
        sid = getattr(slot, "slot_id", slot)
        return self._json("GET", f"/v1/slots/{sid}/list" + _q(path=path, recursive=_bool(recursive),
                                                              max_entries=max_entries,
                                                              long="true" if long else None))

    def archive(self, slot, path: str = ".", format: str = "tar.gz",
                max_bytes: Optional[int] = None) -> bytes:
        sid = getattr(slot, "slot_id", slot)
        fmt = "tar.gz" if format == "tgz" else format
        return self.transport.request("GET", f"/v1/slots/{sid}/archive" +
                                      _q(path=path, format=fmt, max_bytes=max_bytes),
                                      expect_json=False)[1]

    def upload_archive(self, slot, data: bytes, path: str = ".",
                       format: str = "tar.gz") -> Dict[str, Any]:
        """Extract an archive under path in the workspace (API 1.1)."""
        sid = getattr(slot, "slot_id", slot)
        fmt = "tar.gz" if format == "tgz" else format
        return self.transport.request("PUT", f"/v1/slots/{sid}/archive" + _q(path=path, format=fmt),
                                      bytes(data), raw=True)[1]

    def upload_dir(self, slot, local_dir: str, path: str = ".") -> Dict[str, Any]:
        """Copy a local directory's contents under path in the workspace."""
        return self.upload_archive(slot, archives.tar_gz_dir(local_dir), path, "tar.gz")

    # streamed exec, processes and ports (API 1.1)
    def exec_stream(self, slot, command: str, timeout_s: Optional[float] = None,
                    execution_id: Optional[str] = None, **args) -> Iterator[StreamEvent]:
        """bash -c command with its output as it is written: yields
        StreamEvents ("stdout"/"stderr" chunks in order, then one "result"
        whose .result is the ExecutionResult). args: stdin, env, cwd,
        merge_output, pty=(rows, cols). Closing the generator early cancels
        the call."""
        sid = getattr(slot, "slot_id", slot)
        if "pty" in args:
            args["pty"] = pty_body(args["pty"])
            if args["pty"] is None:
                del args["pty"]
        body = {"tool": "bash", "args": dict(command=command, **args), "stream": True,
                "execution_id": execution_id or new_execution_id()}
        if timeout_s is not None:
            body["timeout_s"] = timeout_s
        for line in self.transport.stream("POST", f"/v1/slots/{sid}/exec", body,
                                          self._limit(timeout_s)):
            ev = parse_event_line(line)
            if ev is not None:
                yield ev

    def start_process(self, slot, command: str, env: Optional[Dict[str, str]] = None,
                      cwd: Optional[str] = None, pty=None, stdin: Optional[str] = None,
                      merge_output: Optional[bool] = None) -> Process:
        """Start bash -c command in the background; its handle. pty: True
        (24x80) or (rows, cols) runs it on a terminal. stdin: its first
        input (not with a pty); merge_output: stdout and stderr as one
        stream. It runs until it ends, is killed, or the lease ends."""
        sid = getattr(slot, "slot_id", slot)
        d = self._json("POST", f"/v1/slots/{sid}/processes",
                       process_body(command, env, cwd, pty, stdin, merge_output))
        return Process(self, sid, d["process_id"], d.get("pid"), d)

    def processes(self, slot) -> List[Dict[str, Any]]:
        """The slot's processes: {process_id, command, running, exit_code,
        started_at, ended_at}."""
        sid = getattr(slot, "slot_id", slot)
        return self._json("GET", f"/v1/slots/{sid}/processes")["processes"]

    def process(self, slot, process_id: str) -> Process:
        """A handle on a process started earlier (by anyone), to re-attach."""
        sid = getattr(slot, "slot_id", slot)
        for p in self.processes(sid):
            if p.get("process_id") == process_id:
                return Process(self, sid, process_id, p.get("pid"), p)
        raise NotFound(404, "not_found", f"no process {process_id} in slot {sid}")

    def process_output(self, slot, process_id: str, since: int = 0,
                       wait_s: float = 0.0) -> ProcessOutput:
        """Its output past offset since, waiting up to wait_s for some."""
        sid = getattr(slot, "slot_id", slot)
        q = _q(since=int(since), wait_s=(wait_s or None))
        return ProcessOutput.from_api(self._json("GET", process_path(sid, process_id, "/output" + q),
                                                 timeout=float(wait_s) + self.margin_s))

    def process_stream(self, slot, process_id: str, since: int = 0) -> Iterator[StreamEvent]:
        """Its output past since as events, live, until it ends."""
        sid = getattr(slot, "slot_id", slot)
        path = process_path(sid, process_id, "/output" + _q(since=int(since), stream="true"))
        for line in self.transport.stream("GET", path, None, NO_DEADLINE):
            ev = parse_event_line(line)
            if ev is not None:
                yield ev

    def process_stdin(self, slot, process_id: str, data=b"", eof: bool = False) -> None:
        """Write data to its stdin (in 1 MiB requests, each waiting while the
        process has not read the last MiB yet); eof then closes it."""
        sid = getattr(slot, "slot_id", slot)
        for piece, last in stdin_pieces(data, eof):
            path = process_path(sid, process_id, "/stdin" + (_q(eof="true") if last else ""))
            deadline, pause = time.monotonic() + STDIN_FULL_WAIT_S, 0.01
            while True:
                try:
                    self.transport.request("POST", path, piece, raw=True)
                    break
                except SlotboxError as e:
                    if e.status != 429 or time.monotonic() > deadline:
                        raise
                time.sleep(pause)
                pause = min(pause * 2, 0.2)

    def process_signal(self, slot, process_id: str, sig="INT") -> None:
        """sig: "INT", "TERM", "KILL", ... or a number (INT goes to its
        foreground process group)."""
        sid = getattr(slot, "slot_id", slot)
        self._json("POST", process_path(sid, process_id, "/signal"), {"signal": signal_name(sig)})

    def process_resize(self, slot, process_id: str, rows: int, cols: int) -> None:
        sid = getattr(slot, "slot_id", slot)
        self._json("POST", process_path(sid, process_id, "/resize"),
                   {"rows": int(rows), "cols": int(cols)})

    def kill_process(self, slot, process_id: str) -> None:
        """Kill the process's whole tree."""
        sid = getattr(slot, "slot_id", slot)
        self.transport.request("DELETE", process_path(sid, process_id))

    def slot_url(self, slot, port: int, path: str = "") -> str:
        """The URL of a server listening on 127.0.0.1:port inside the slot,
        through the daemon's proxy: http://host:port/v1/slots/ID/ports/PORT/
        over TCP (send auth_headers() with it), http+unix://SOCKET/... on a
        unix socket."""
        return port_url(self.endpoint, getattr(slot, "slot_id", slot), port, path)

    def auth_headers(self) -> Dict[str, str]:
        """The headers a request to slot_url() needs (the bearer token)."""
        t = self.transport.token
        return {"Authorization": f"Bearer {t}"} if t else {}

    def port_request(self, slot, port: int, method: str = "GET", path: str = "/",
                     body=None, headers: Optional[Dict[str, str]] = None,
                     timeout: Optional[float] = None) -> PortResponse:
        """One HTTP request to the server on port inside the slot (over this
        client's socket or TCP connection); its answer whatever its status.
        A 502 with error_code "port_unreachable" means nothing listens."""
        if isinstance(body, str):
            body = body.encode()
        status, hdrs, data = self.transport.request_raw(
            method, port_path(getattr(slot, "slot_id", slot), port, path),
            None if body is None else bytes(body), headers, timeout)
        return PortResponse(status, hdrs, data)
