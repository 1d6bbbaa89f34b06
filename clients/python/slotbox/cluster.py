# SPDX-License-Identifier: Apache-2.0
"""ClusterClient: Client's methods over many slotboxd nodes (one per
machine, e.g. a Kubernetes DaemonSet behind a headless Service).

    c = ClusterClient("http://slotbox.slotbox.svc:8390", token=T)  # every pod
    c = ClusterClient(["http://10.0.0.1:8390", "http://10.0.0.2:8390"], token=T)

Acquires go to the node with the most room for the profile (its
/v1/status, read at most every status_ttl_s), and on to the next one when
a node cannot be reached, has no slot in time (503) or fails (5xx). Every
later call for a slot goes to the node that holds it: the Slot carries it
in `endpoint` (the server's slot ids are untouched), and the client keeps
slot id -> node for calls made with bare ids. A node that cannot be
reached fails only its own slots' calls, with SandboxLost (code
sandbox_lost); new acquires go elsewhere. No state is shared between
clients or nodes: each daemon stays the only authority on its leases.
"""
import threading
import time
from typing import Any, Dict, Iterable, List, Optional, Tuple

from .errors import (AcquireTimeout, NodeUnavailable, SandboxLost, SlotboxError, SlotNotLeased,
                     SnapshotNotFound)
from .nodes import NODE_ERRORS, Node
from .nodeset import NodeSet
from .transport import default_endpoint, default_token
from .types import ExecutionResult, Slot


class ClusterClient:
    def __init__(self, endpoints=None, token: Optional[str] = None, timeout: float = 300.0, *,
                 status_ttl_s: float = 0.5, resolve_ttl_s: float = 30.0,
                 connect_timeout_s: float = 3.0, down_s: float = 1.0, probe_wait_s: float = 1.0):
        """endpoints: a list, or one string with commas (default $SLOTBOX_URL);
        each http:// name stands for all its addresses, looked up again
        every resolve_ttl_s. probe_wait_s: how long a node that turns out to
        be full may hold an acquire before the next node is tried."""
        if endpoints is None:
            endpoints = default_endpoint()
        if isinstance(endpoints, str):
            endpoints = endpoints.split(",")
        self.endpoints = [e.strip() for e in endpoints if e.strip()]
        if not self.endpoints:
            raise ValueError("ClusterClient needs at least one endpoint")
        self.endpoint = ",".join(self.endpoints)
        if token is None and any(e.startswith("http://") for e in self.endpoints):
            token = default_token()
        self.token = token
        self.connect_timeout_s, self.probe_wait_s = connect_timeout_s, probe_wait_s
        self._set = NodeSet(self.endpoints, token, timeout, status_ttl_s, resolve_ttl_s,
                            connect_timeout_s, down_s)
        self._lock = self._set.lock
        self._slots: Dict[str, str] = {}  # slot id -> node url
        self._snapshots: Dict[str, str] = {}  # snapshot name -> node url
        self._acquire_timeouts: Dict[str, Optional[float]] = {}  # profile -> acquire_timeout_s

    def close(self):
        for n in self._set.all():
            n.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # ---- nodes ----
    def nodes(self) -> List[str]:
        """The nodes acquires may go to now."""
        self._set.maybe_resolve()
        return [n.url for n in self._set.listed()]

    def resolve(self) -> None:
        """Look the endpoints up again now (it happens every resolve_ttl_s
        anyway, and when no node answers an acquire)."""
        self._set.resolve()

    def _node_of(self, slot) -> Tuple[Node, str]:
        sid = getattr(slot, "slot_id", slot)
        url = getattr(slot, "endpoint", "")
        with self._lock:
            node = self._set.get(url) or self._set.get(self._slots.get(sid, ""))
        return (node or self._locate(sid)), sid

    def _locate(self, sid: str) -> Node:
        """A bare slot id this client did not lease: the node that knows
        the lease (200, or 409 once it ended) holds it."""
        for n in self._set.listed():
            try:
                n.client.transport.request("GET", f"/v1/slots/{sid}", timeout=self.connect_timeout_s)
            except SlotNotLeased:
                pass
            except (SlotboxError, *NODE_ERRORS):
                continue
            with self._lock:
                self._slots[sid] = n.url
            return n
        raise SlotNotLeased(409, "slot_not_leased", f"no node knows slot {sid}")

    def _lost(self, node: Node, e: Exception) -> SandboxLost:
        self._set.failed(node)
        return SandboxLost(502, "sandbox_lost", f"node {node.url} cannot be reached ({e!r})")

    def _on(self, slot, method: str, *args, **kw):
        """Client.<method>(slot id, ...) on the node holding the slot."""
        node, sid = self._node_of(slot)
        try:
            return getattr(node.client, method)(sid, *args, **kw)
        except NODE_ERRORS as e:
            raise self._lost(node, e) from e

    def _leased(self, node: Node, slots: List[Slot], counted: bool = False) -> None:
        with self._lock:
            for s in slots:
                self._slots[s.slot_id] = node.url
                node.placed += 1
                if not counted:
                    node.count(s.metadata.get("profile"), +1)

    # ---- pool ----
    def _first(self, method: str, *args):
        """The answer of the first node that gives one."""
        last: Exception = NodeUnavailable(503, "node_unavailable", "no slotbox node is listed")
        for n in self._set.ranked(None):
            try:
                return getattr(n.client, method)(*args)
            except NODE_ERRORS as e:
                self._set.failed(n)
                last = NodeUnavailable(503, "node_unavailable", f"{n.url}: {e!r}")
        raise last

    def health(self) -> Dict[str, Any]:
        """{"ok": some node is healthy, "nodes": {url: its health or error}}."""
        out = {}
        for n in self._set.listed():
            try:
                out[n.url] = n.client.health()
            except (SlotboxError, *NODE_ERRORS) as e:
                out[n.url] = {"ok": False, "error": repr(e)}
        if not any(h.get("ok") for h in out.values()):
            raise NodeUnavailable(503, "node_unavailable", f"no healthy slotbox node: {out}")
        return {"ok": True, "nodes": out}

    def profiles(self) -> Dict[str, Any]:
        """One node's profiles: every node is meant to serve the same ones
        (one ConfigMap)."""
        return self._first("profiles")

    def status(self) -> Dict[str, Any]:
        """The pools summed over the nodes that answer, and each node's own
        status (or its error) under "nodes"."""
        self._set.maybe_resolve()
        pools: Dict[str, Dict[str, int]] = {}
        per_node: Dict[str, Any] = {}
        default = None
        for n in self._set.listed():
            try:
                st = n.client.status()
            except (SlotboxError, *NODE_ERRORS) as e:
                per_node[n.url] = {"error": repr(e)}
                continue
            with self._lock:
                n.set_status(st)
            per_node[n.url] = st
            default = default or st.get("default_profile")
            for name, p in st.get("pools", {}).items():
                agg = pools.setdefault(name, {})
                for k, v in p.items():
                    if k == "slots_per_sandbox":
                        agg[k] = max(agg.get(k, 0), v)
                    elif isinstance(v, (int, float)) and not isinstance(v, bool):
                        agg[k] = agg.get(k, 0) + v
        if not any("pools" in s for s in per_node.values()):
            raise NodeUnavailable(503, "node_unavailable", f"no slotbox node answers: {per_node}")
        return {"default_profile": default, "pools": pools, "nodes": per_node}

    # ---- leases ----
    def _acquire_timeout(self, profile: Optional[str]) -> Optional[float]:
        """The profile's acquire_timeout_s (read once): without timeout_s
        it bounds the whole acquire, all nodes together, as on one node."""
        key = profile or ""
        if key not in self._acquire_timeouts:
            try:
                doc = self.profiles()
                p = doc["profiles"].get(profile or doc["default_profile"])
                self._acquire_timeouts[key] = float(p["acquire_timeout_s"]) if p else None
            except (SlotboxError, KeyError, TypeError, ValueError):
                return None
        return self._acquire_timeouts[key]

    def acquire(self, trajectory_id: Optional[str] = None, profile: Optional[str] = None,
                timeout_s: Optional[float] = None, ttl_s: Optional[float] = None,
                snapshot: Optional[str] = None) -> Slot:
        """Client.acquire on the node with the most room. timeout_s bounds
        the whole call (without it, the profile's acquire_timeout_s does).
        First each node with room by its figures gets at most probe_wait_s
        in turn (it may have filled up since they were read); then the
        rest of the time goes to waiting in line, best node first. A node that times out on the client's side may still
        grant the lease: give ttl_s so such a lease ends by itself."""
        body = {k: v for k, v in (("trajectory_id", trajectory_id), ("profile", profile),
                                  ("ttl_s", ttl_s), ("snapshot", snapshot)) if v is not None}
        if snapshot is not None:
            nodes = [self._snapshot_node(snapshot)]
        else:
            self._set.maybe_resolve()
            self._set.refresh()
            nodes = self._set.ranked(profile)
            if not nodes or all(n.is_down(time.monotonic()) for n in nodes):
                self._set.resolve()
                nodes = self._set.ranked(profile)
            if not nodes:
                raise NodeUnavailable(503, "node_unavailable",
                                      f"no slotbox node found at {self.endpoint}")
        if timeout_s is not None and timeout_s <= 0:  # the daemon says what is wrong
            return self._acquire_on(nodes[0], profile, dict(body, timeout_s=timeout_s), None)
        wait = timeout_s if timeout_s is not None else self._acquire_timeout(profile)
        deadline = None if wait is None else time.monotonic() + wait
        last: Exception = NodeUnavailable(503, "node_unavailable", "no slotbox node is listed")
        passes = (True, False) if len(nodes) > 1 else (False,)
        for probing in passes:
            for n in nodes:
                if probing and not n.may_have_room(profile):
                    continue  # full by its latest figures: wait in line below
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    raise last
                w = left
                if probing:
                    w = self.probe_wait_s if left is None else min(left, self.probe_wait_s)
                try:
                    return self._acquire_on(n, profile, dict(body, timeout_s=w) if w else body, w)
                except AcquireTimeout as e:  # first: it is a TimeoutError (an OSError) too
                    last = e
                except NODE_ERRORS as e:
                    self._set.failed(n)
                    last = NodeUnavailable(503, "node_unavailable", f"{n.url}: {e!r}")
                except SlotboxError as e:
                    if e.status < 500:  # the request itself is wrong: same everywhere
                        raise
                    last = e
        raise last

    def _acquire_on(self, node: Node, profile: Optional[str], body: Dict[str, Any],
                    wait: Optional[float]) -> Slot:
        """Counted on the node from the moment it is asked: acquires made
        at the same time by other threads then see it as one slot fuller
        (without that, all of them would go to the same node)."""
        t = None if wait is None else wait + self.connect_timeout_s + 5.0
        with self._lock:
            node.count(profile, +1)
        try:
            d = node.client.transport.request("POST", "/v1/slots", body, timeout=t)[1]
        except BaseException:
            with self._lock:
                node.count(profile, -1)
            raise
        slot = Slot.from_api(d, node.url)
        self._leased(node, [slot], counted=True)
        return slot

    def release(self, slot, reset: bool = True) -> None:
        node, sid = self._node_of(slot)
        try:
            node.client.release(sid, reset)
        except NODE_ERRORS as e:
            raise self._lost(node, e) from e
        finally:
            with self._lock:
                if self._slots.pop(sid, None) is not None:
                    node.count(getattr(slot, "metadata", {}).get("profile"), -1)

    def renew(self, slot, ttl_s: Optional[float] = None) -> Slot:
        return self._on(slot, "renew", ttl_s)

    def slot(self, slot_id: str) -> Slot:
        return self._on(slot_id, "slot")

    def fork(self, slot, count: int = 1, trajectory_ids: Optional[List[str]] = None,
             ttl_s: Optional[float] = None, timeout_s: Optional[float] = None) -> List[Slot]:
        """The new slots live on the source's node (the copy is local)."""
        node, _ = self._node_of(slot)
        slots = self._on(slot, "fork", count, trajectory_ids, ttl_s, timeout_s)
        self._leased(node, slots)
        return slots

    # ---- snapshots: each lives on the node that took it ----
    def snapshot(self, slot, name: str) -> Dict[str, Any]:
        node, _ = self._node_of(slot)
        r = self._on(slot, "snapshot", name)
        with self._lock:
            self._snapshots[name] = node.url
        return r

    def snapshots(self) -> List[Dict[str, Any]]:
        """Every reachable node's snapshots, each with its "node"."""
        out = []
        for n in self._set.listed():
            try:
                snaps = n.client.snapshots()
            except (SlotboxError, *NODE_ERRORS):
                continue
            with self._lock:
                for s in snaps:
                    self._snapshots[s["name"]] = n.url
            out += [dict(s, node=n.url) for s in snaps]
        return sorted(out, key=lambda s: (s["name"], s["node"]))

    def _snapshot_node(self, name: str) -> Node:
        with self._lock:
            url = self._snapshots.get(name)
        if url is None:
            self.snapshots()
            with self._lock:
                url = self._snapshots.get(name)
        if url is None:
            raise SnapshotNotFound(404, "snapshot_not_found", f"no node has snapshot {name}")
        with self._lock:
            return self._set.get(url)

    def delete_snapshot(self, name: str) -> None:
        node = self._snapshot_node(name)
        try:
            node.client.delete_snapshot(name)
        except NODE_ERRORS as e:
            raise NodeUnavailable(503, "node_unavailable", f"{node.url}: {e!r}") from e
        finally:
            with self._lock:
                self._snapshots.pop(name, None)

    # ---- tools and files ----
    def exec(self, slot, tool: str, args: Dict[str, Any],
             timeout_s: Optional[float] = None) -> ExecutionResult:
        return self._on(slot, "exec", tool, args, timeout_s)

    def bash(self, slot, command: str, timeout_s: Optional[float] = None, **args) -> ExecutionResult:
        return self.exec(slot, "bash", dict(command=command, **args), timeout_s)

    def exec_batch(self, requests: Iterable[Tuple[Any, str, Dict[str, Any]]],
                   timeout_s: Optional[float] = None) -> List[ExecutionResult]:
        """One POST /v1/exec per node, the nodes in parallel; results in
        request order. A node that cannot be reached gives its requests
        an infra result with error_code sandbox_lost (the others run)."""
        groups: Dict[str, List[int]] = {}
        reqs = list(requests)
        nodes = {}
        results: List[Optional[ExecutionResult]] = [None] * len(reqs)
        for i, (s, _, _) in enumerate(reqs):
            try:
                node, _ = self._node_of(s)
            except SlotNotLeased as e:  # no node knows it: as a daemon answers it
                results[i] = _failed(getattr(s, "slot_id", s), e, "task")
                continue
            nodes[node.url] = node
            groups.setdefault(node.url, []).append(i)
        errors: List[BaseException] = []

        def run(url):
            idx = groups[url]
            try:
                rs = nodes[url].client.exec_batch([reqs[i] for i in idx], timeout_s)
            except NODE_ERRORS as e:
                lost = self._lost(nodes[url], e)
                rs = [_failed(getattr(reqs[i][0], "slot_id", reqs[i][0]), lost, "infra")
                      for i in idx]
            except BaseException as e:  # a 4xx for the whole batch: raised below
                errors.append(e)
                return
            for i, r in zip(idx, rs):
                results[i] = r

        threads = [threading.Thread(target=run, args=(u,)) for u in list(groups)[1:]]
        for t in threads:
            t.start()
        if groups:
            run(next(iter(groups)))
        for t in threads:
            t.join()
        if errors:
            raise errors[0]
        return results

    def read_file(self, slot, path: str, encoding: str = "text", max_bytes: Optional[int] = None,
                  sha256: bool = False) -> Dict[str, Any]:
        return self._on(slot, "read_file", path, encoding, max_bytes, sha256)

    def write_file(self, slot, path: str, data: bytes) -> Dict[str, Any]:
        return self._on(slot, "write_file", path, data)

    def list(self, slot, path: str = ".", recursive: bool = False,
             max_entries: Optional[int] = None, long: bool = False) -> Dict[str, Any]:
        return self._on(slot, "list", path, recursive, max_entries, long=long)

    def archive(self, slot, path: str = ".", format: str = "tar.gz",
                max_bytes: Optional[int] = None) -> bytes:
        return self._on(slot, "archive", path, format, max_bytes)

    # ---- streams, processes, ports (API 1.1): on the slot's node ----
    def exec_stream(self, slot, command: str, timeout_s: Optional[float] = None, **args):
        return self._on(slot, "exec_stream", command, timeout_s, **args)

    def start_process(self, slot, command: str, env=None, cwd=None, pty=None, stdin=None,
                      merge_output=None):
        """The handle talks to the slot's node directly."""
        return self._on(slot, "start_process", command, env, cwd, pty, stdin, merge_output)

    def processes(self, slot) -> List[Dict[str, Any]]:
        return self._on(slot, "processes")

    def process(self, slot, process_id: str):
        return self._on(slot, "process", process_id)

    def process_output(self, slot, process_id: str, since: int = 0, wait_s: float = 0.0):
        return self._on(slot, "process_output", process_id, since, wait_s)

    def process_stream(self, slot, process_id: str, since: int = 0):
        return self._on(slot, "process_stream", process_id, since)

    def process_stdin(self, slot, process_id: str, data=b"", eof: bool = False) -> None:
        return self._on(slot, "process_stdin", process_id, data, eof)

    def process_signal(self, slot, process_id: str, sig="INT") -> None:
        return self._on(slot, "process_signal", process_id, sig)

    def process_resize(self, slot, process_id: str, rows: int, cols: int) -> None:
        return self._on(slot, "process_resize", process_id, rows, cols)

    def kill_process(self, slot, process_id: str) -> None:
        return self._on(slot, "kill_process", process_id)

    def slot_url(self, slot, port: int, path: str = "") -> str:
        """The URL on the node that holds the slot."""
        return self._on(slot, "slot_url", port, path)

    def auth_headers(self) -> Dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def port_request(self, slot, port: int, method: str = "GET", path: str = "/", body=None,
                     headers: Optional[Dict[str, str]] = None, timeout: Optional[float] = None):
        return self._on(slot, "port_request", port, method, path, body, headers, timeout)


def _failed(slot_id: str, e: SlotboxError, error_class: str) -> ExecutionResult:
    """A result for a request no daemon ran, shaped like a daemon's own
    per-request failure (returncode 1, error_code in the metadata)."""
    return ExecutionResult(success=False, error=e.message, slot_id=slot_id,
                           metadata={"returncode": 1, "timed_out": False, "truncated": False,
                                     "oom_killed": False, "stdout": "", "stderr": e.message,
                                     "duration_ms": 0.0, "error_class": error_class,
                                     "error_code": e.code})
