# SPDX-License-Identifier: Apache-2.0
"""The nodes a ClusterClient knows: found from its endpoints (looked up
again every resolve_ttl_s), their pools' figures (read at most every
status_ttl_s), which are down, and their order for the next acquire."""
import random
import threading
import time
from typing import Dict, List, Optional

from .errors import SlotboxError
from .nodes import NODE_ERRORS, Node, expand


class NodeSet:
    def __init__(self, endpoints: List[str], token: Optional[str], timeout: float,
                 status_ttl_s: float, resolve_ttl_s: float, connect_timeout_s: float,
                 down_s: float):
        self.endpoints = endpoints
        self.token, self.timeout = token, timeout
        self.status_ttl_s, self.resolve_ttl_s = status_ttl_s, resolve_ttl_s
        self.connect_timeout_s, self.down_s = connect_timeout_s, down_s
        # Guards the nodes' figures and the client's maps: held for
        # bookkeeping only, never across a request.
        self.lock = threading.Lock()
        self._nodes: Dict[str, Node] = {}  # url -> Node, listed or not
        self._named: Dict[str, List[str]] = {}  # endpoint -> its last addresses
        self._resolved_at = self._status_at = float("-inf")
        self._refreshing = False
        self.resolve()

    def resolve(self) -> None:
        """Look every endpoint up again. A name that does not resolve now
        keeps its last addresses (a DNS hiccup); nodes no longer named
        take no new leases but keep serving the slots they hold."""
        found = {}
        for e in self.endpoints:
            try:
                found[e] = expand(e)
            except OSError:
                pass
        with self.lock:
            self._named.update(found)
            listed = {u for urls in self._named.values() for u in urls}
            for u in listed - self._nodes.keys():
                self._nodes[u] = Node(u, self.token, self.timeout, self.connect_timeout_s)
            for u, n in self._nodes.items():
                n.listed = u in listed
            self._resolved_at = time.monotonic()

    def maybe_resolve(self) -> None:
        if time.monotonic() - self._resolved_at >= self.resolve_ttl_s:
            self.resolve()

    def get(self, url: str) -> Optional[Node]:
        """The node of that URL, listed or not (call with the lock held)."""
        return self._nodes.get(url)

    def listed(self) -> List[Node]:
        with self.lock:
            return [n for n in self._nodes.values() if n.listed]

    def all(self) -> List[Node]:
        with self.lock:
            return list(self._nodes.values())

    def failed(self, node: Node) -> None:
        with self.lock:
            node.failed(self.down_s)

    def refresh(self) -> None:
        """Every reachable node's /v1/status, at most every status_ttl_s
        (one thread refreshes; the others go on with the figures they
        have). Nodes marked down are left alone until their time is up."""
        with self.lock:
            if self._refreshing or time.monotonic() - self._status_at < self.status_ttl_s:
                return
            self._refreshing = True
        try:
            now = time.monotonic()
            for n in self.listed():
                if n.is_down(now):
                    continue
                try:
                    st = n.client.transport.request("GET", "/v1/status",
                                                    timeout=self.connect_timeout_s)[1]
                except NODE_ERRORS:
                    self.failed(n)
                    continue
                except SlotboxError:
                    continue
                with self.lock:
                    n.set_status(st)
        finally:
            with self.lock:
                self._status_at = time.monotonic()
                self._refreshing = False

    def ranked(self, profile: Optional[str]) -> List[Node]:
        """Nodes up, best first (Node.score), then nodes marked down,
        soonest back first (one may be up again)."""
        now = time.monotonic()
        nodes = self.listed()
        random.shuffle(nodes)  # the order among exact ties
        with self.lock:
            up = sorted((n for n in nodes if not n.is_down(now)),
                        key=lambda n: n.score(profile), reverse=True)
        down = sorted((n for n in nodes if n.is_down(now)), key=lambda n: n.down_until)
        return up + down
