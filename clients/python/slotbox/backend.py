"""SlotboxToolBackend: the asyncio ToolBackend interface of the Modal-backed
pool that RL frameworks use today, backed by slotboxd. Switching is one line:

    backend = SlotboxToolBackend()          # instead of ModalToolBackend(...)
"""
import asyncio
import base64
from typing import Any, Dict, List, Optional, Tuple

from .client import Client
from .cluster import ClusterClient
from .errors import SlotboxError
from .types import ExecutionResult, Slot, SlotState


class SlotboxToolBackend:
    def __init__(self, endpoint=None, token: Optional[str] = None,
                 default_profile: Optional[str] = None, timeout: float = 300.0,
                 lease_ttl_s: Optional[float] = None, cluster: Optional[bool] = None):
        """lease_ttl_s: leases end by themselves after that long without a
        call, so a crashed trainer's slots return to the pool.
        endpoint may name several nodes (a list, or commas): then, or with
        cluster=True (one DNS name for many nodes), a ClusterClient spreads
        the slots over them."""
        if cluster is None:
            cluster = (isinstance(endpoint, (list, tuple))
                       or (isinstance(endpoint, str) and "," in endpoint))
        if cluster:
            self.client = ClusterClient(endpoint, token, timeout)
        else:
            self.client = Client(endpoint, token, timeout)
        self.default_profile = default_profile
        self.lease_ttl_s = lease_ttl_s
        self._default_timeout = None
        self._leased: Dict[str, Slot] = {}

    async def _call(self, fn, *args, **kw):
        return await asyncio.to_thread(fn, *args, **kw)

    @property
    def default_timeout_s(self) -> Optional[float]:
        return self._default_timeout

    async def start(self, profiles_to_start: Optional[List[str]] = None) -> None:
        """Check the daemon is there; slotboxd keeps its pools warm itself."""
        await self._call(self.client.health)
        profiles = await self._call(self.client.profiles)
        name = self.default_profile or profiles["default_profile"]
        if name not in profiles["profiles"]:
            raise ValueError(f"Unknown profile: {name}")
        self.default_profile = name
        self._default_timeout = float(profiles["profiles"][name]["execution_timeout_s"])

    async def stop(self, *, purge: bool = False) -> None:
        """Release every slot this backend still holds (purge: reset them)."""
        for slot in list(self._leased.values()):
            try:
                await self._call(self.client.release, slot, purge)
            except SlotboxError:
                pass
        self._leased.clear()
        self.client.close()

    async def acquire(self, trajectory_id: Optional[str] = None,
                      profile: Optional[str] = None, snapshot: Optional[str] = None) -> Slot:
        """With snapshot, the workspace starts as that snapshot (and the
        slot is of the snapshot's profile)."""
        if snapshot is not None:
            slot = await self._call(self.client.acquire, trajectory_id, profile, None,
                                    self.lease_ttl_s, snapshot)
        else:
            slot = await self._call(self.client.acquire, trajectory_id,
                                    profile or self.default_profile, None, self.lease_ttl_s)
        self._leased[slot.slot_id] = slot
        return slot

    async def fork(self, slot: Slot, count: int = 1,
                   trajectory_ids: Optional[List[str]] = None) -> List[Slot]:
        """count new slots whose workspaces are copies of slot's now (the
        source keeps running; processes are not copied). Released like any
        other slot."""
        slots = await self._call(self.client.fork, slot, count, trajectory_ids,
                                 self.lease_ttl_s)
        for s in slots:
            self._leased[s.slot_id] = s
        return slots

    async def snapshot(self, slot: Slot, name: str) -> Dict[str, Any]:
        return await self._call(self.client.snapshot, slot, name)

    async def list_snapshots(self) -> List[Dict[str, Any]]:
        return await self._call(self.client.snapshots)

    async def delete_snapshot(self, name: str) -> None:
        await self._call(self.client.delete_snapshot, name)

    async def release(self, slot: Slot, *, reset_workspace: bool = False) -> None:
        await self._call(self.client.release, slot, reset_workspace)
        self._leased.pop(slot.slot_id, None)
        slot.state = SlotState.AVAILABLE

    async def execute_batch(self, requests: List[Tuple[Slot, str, Dict[str, Any]]], *,
                            timeout_s: Optional[float] = None) -> List[ExecutionResult]:
        return await self._call(self.client.exec_batch, requests, timeout_s)

    async def read_artifact(self, slot: Slot, path: str, *, encoding: str = "text",
                            max_bytes: Optional[int] = None, include_sha256: bool = False,
                            timeout_s: Optional[float] = None) -> Dict[str, Any]:
        try:
            r = await self._call(self.client.read_file, slot, path, encoding, max_bytes, include_sha256)
        except SlotboxError as e:
            return {"success": False, "content": "", "error": str(e)}
        out = {"success": True, "content": r["content"], "error": "", "encoding": r["encoding"],
               "bytes": r["bytes"], "file_size": r["file_size"], "truncated": r["truncated"]}
        if include_sha256:
            out["sha256"] = r["sha256"]
        return out

    async def list_artifacts(self, slot: Slot, path: str = ".", *, recursive: bool = False,
                             max_entries: Optional[int] = None,
                             timeout_s: Optional[float] = None) -> Dict[str, Any]:
        try:
            r = await self._call(self.client.list, slot, path, recursive, max_entries)
        except SlotboxError as e:
            return {"success": False, "entries": [], "error": str(e)}
        return {"success": True, "entries": r["entries"], "truncated": r["truncated"], "error": ""}

    async def archive_artifacts(self, slot: Slot, path: str = ".", *, archive_format: str = "tar.gz",
                                max_bytes: Optional[int] = None, max_entries: Optional[int] = None,
                                timeout_s: Optional[float] = None) -> Dict[str, Any]:
        try:
            data = await self._call(self.client.archive, slot, path, archive_format, max_bytes)
        except SlotboxError as e:
            return {"success": False, "archive_base64": "", "format": archive_format, "error": str(e)}
        return {"success": True, "archive_base64": base64.b64encode(data).decode(),
                "format": archive_format, "error": ""}

    def get_status(self) -> Dict[str, Any]:
        st = self.client.status()
        profiles = self.client.profiles()
        st["profiles"] = list(profiles["profiles"])
        st["active_pools"] = [n for n, p in profiles["profiles"].items() if p.get("active")]
        return st

    def list_profiles(self) -> Dict[str, Dict[str, Any]]:
        return self.client.profiles()["profiles"]
