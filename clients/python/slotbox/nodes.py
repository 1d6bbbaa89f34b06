# SPDX-License-Identifier: Apache-2.0
"""The nodes of a ClusterClient: discovery (a list of endpoints, DNS names
with many A/AAAA records) and what each node last said about its pools."""
import http.client
import ipaddress
import socket
import time
import urllib.parse
from typing import Any, Dict, List, Optional

from .client import Client

# What a node that cannot be reached raises: refused, reset, timed out,
# unreachable (OSError), or an answer cut short (HTTPException).
NODE_ERRORS = (OSError, http.client.HTTPException)


def expand(endpoint: str) -> List[str]:
    """One node URL per address of endpoint's host name, so that a headless
    Service's name (one A/AAAA record per ready pod) gives every pod.
    Unix socket paths and IP literals are one node each. Raises OSError
    when the name does not resolve."""
    if not endpoint.startswith("http://"):
        return [endpoint]
    u = urllib.parse.urlsplit(endpoint)
    if not u.hostname:
        raise ValueError(f"no host in {endpoint!r}")
    port = u.port or 80
    try:
        ipaddress.ip_address(u.hostname)
        return [_url(u.hostname, port)]
    except ValueError:
        pass
    out = []
    for fam, _, _, _, sa in socket.getaddrinfo(u.hostname, port, type=socket.SOCK_STREAM):
        if fam in (socket.AF_INET, socket.AF_INET6):
            url = _url(sa[0], sa[1])
            if url not in out:
                out.append(url)
    return out


def _url(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


class Node:
    """One slotboxd. `pools` is its last /v1/status (None: unknown);
    `taken` counts leases this client made (or is asking for) or ended on
    it since then, so acquires between two refreshes, and those running at
    the same time, spread instead of piling onto the node that looked
    emptiest."""

    def __init__(self, url: str, token: Optional[str], timeout: float, connect_timeout: float):
        self.url = url
        self.client = Client(url, token, timeout)
        if url.startswith("http://"):
            self.client.transport.connect_timeout = connect_timeout
        self.listed = True  # still named by discovery: acquires may go here
        self.pools: Optional[Dict[str, Any]] = None
        self.default_profile: Optional[str] = None
        self.taken: Dict[str, int] = {}
        self.placed = 0  # leases this client made here, ever
        self.fails = 0
        self.down_until = 0.0

    def is_down(self, now: float) -> bool:
        return self.down_until > now

    def failed(self, base_s: float) -> None:
        """Unreachable: skip it for acquires a while (doubling, at most
        30 s), and forget its figures. Its idle connections are likely
        dead too: the next call connects afresh (bounded by the connect
        timeout) instead of waiting for a stale one to time out."""
        self.fails += 1
        self.down_until = time.monotonic() + min(base_s * 2 ** min(self.fails - 1, 10), 30.0)
        self.pools = None
        self.client.transport.close()  # the idle ones only: it stays usable

    def answered(self) -> None:
        self.fails = 0
        self.down_until = 0.0

    def set_status(self, st: Dict[str, Any]) -> None:
        self.pools = st.get("pools") or {}
        self.default_profile = st.get("default_profile")
        self.taken = {}
        self.answered()

    def score(self, profile: Optional[str]):
        """Sort key, larger first: slots the profile can still lease here
        (free now or in sandboxes the pool may still start, less the
        waiters). Ties go to the node this client placed fewest leases on,
        so equal nodes take turns (preferring warm free slots instead
        would keep feeding whichever node happened to scale up first).
        Unknown figures rank after nodes with room, before full ones."""
        name = profile or self.default_profile
        if self.pools is None or name is None:
            return (0, -self.placed)
        p = self.pools.get(name)
        if p is None:  # the profile is not served here
            return (float("-inf"), -self.placed)
        room = (p.get("max_sandboxes", 0) * p.get("slots_per_sandbox", 0)
                - p.get("leased_slots", 0) - p.get("waiters", 0) - self.taken.get(name, 0))
        return (room, -self.placed)

    def may_have_room(self, profile: Optional[str]) -> bool:
        return self.pools is None or self.score(profile)[0] > 0

    def count(self, profile: Optional[str], delta: int) -> None:
        name = profile or self.default_profile
        if name is not None:
            self.taken[name] = self.taken.get(name, 0) + delta

    def close(self) -> None:
        self.client.close()
