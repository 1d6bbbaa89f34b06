"""Synchronous client: one method per endpoint of API.md."""
import urllib.parse
from typing import Any, Dict, Iterable, List, Optional, Tuple

from .transport import Transport
from .types import ExecutionResult, Slot


def _q(**params):
    return "?" + urllib.parse.urlencode({k: v for k, v in params.items() if v is not None})


def _bool(v):
    return None if v is None else ("true" if v else "false")


class Client:
    def __init__(self, endpoint: Optional[str] = None, token: Optional[str] = None,
                 timeout: float = 300.0):
        self.transport = Transport(endpoint, token, timeout)
        self.endpoint = self.transport.endpoint

    def close(self):
        self.transport.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _json(self, method, path, body=None):
        return self.transport.request(method, path, body)[1]

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
        return Slot.from_api(self._json("POST", "/v1/slots", body), self.endpoint)

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
        r = self._json("POST", f"/v1/slots/{sid}/fork", body)
        return [Slot.from_api(s, self.endpoint) for s in r["slots"]]

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
    def exec(self, slot, tool: str, args: Dict[str, Any],
             timeout_s: Optional[float] = None) -> ExecutionResult:
        sid = getattr(slot, "slot_id", slot)
        body = {"tool": tool, "args": args}
        if timeout_s is not None:
            body["timeout_s"] = timeout_s
        return ExecutionResult.from_api(self._json("POST", f"/v1/slots/{sid}/exec", body))

    def bash(self, slot, command: str, timeout_s: Optional[float] = None, **args) -> ExecutionResult:
        return self.exec(slot, "bash", dict(command=command, **args), timeout_s)

    def exec_batch(self, requests: Iterable[Tuple[Any, str, Dict[str, Any]]],
                   timeout_s: Optional[float] = None) -> List[ExecutionResult]:
        reqs = [{"slot_id": getattr(s, "slot_id", s), "tool": t, "args": a} for s, t, a in requests]
        if not reqs:
            return []
        body = {"requests": reqs}
        if timeout_s is not None:
            body["timeout_s"] = timeout_s
        return [ExecutionResult.from_api(r) for r in self._json("POST", "/v1/exec", body)["results"]]

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
             max_entries: Optional[int] = None) -> Dict[str, Any]:
        sid = getattr(slot, "slot_id", slot)
        return self._json("GET", f"/v1/slots/{sid}/list" + _q(path=path, recursive=_bool(recursive),
                                                              max_entries=max_entries))

    def archive(self, slot, path: str = ".", format: str = "tar.gz",
                max_bytes: Optional[int] = None) -> bytes:
        sid = getattr(slot, "slot_id", slot)
        return self.transport.request("GET", f"/v1/slots/{sid}/archive" +
                                      _q(path=path, format=format, max_bytes=max_bytes),
                                      expect_json=False)[1]
