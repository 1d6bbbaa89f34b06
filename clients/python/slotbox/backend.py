# SPDX-License-Identifier: Apache-2.0
"""SlotboxToolBackend: the asyncio ToolBackend of atropos-agent's Modal pool
(start/stop, acquire/release, execute_batch, artifact helpers, get_status,
list_profiles), backed by slotboxd. Switching is the one line that builds
the backend:

    backend = SlotboxToolBackend(config)    # instead of ModalToolBackend(config)

Calls run on the asyncio client (no thread per call). release() keeps the
workspace unless reset_workspace=True, as upstream's does.
"""
import asyncio
import base64
from typing import Any, Dict, List, Optional, Tuple

from . import archives
from .aio import AsyncClient
from .client import Client
from .errors import BadRequest, NotFound, SlotboxError, SlotNotLeased
from .types import ExecutionResult, Slot, SlotState

# Bash arguments callers send by convention (ToolExecutor's network policy);
# API 1.1 accepts them. Against an older daemon that refuses them they are
# dropped and the call retried once.
CONVENTION_ARGS = ("allow_network", "require_sandbox", "require_stateful_sandbox")


class _Threaded:
    """A sync client's methods as coroutines (ClusterClient only: it is
    synchronous; each call takes a thread)."""

    def __init__(self, sync):
        self.sync = sync
        self.endpoint = getattr(sync, "endpoint", None)

    def __getattr__(self, name):
        fn = getattr(self.sync, name)

        async def call(*a, **kw):
            return await asyncio.to_thread(fn, *a, **kw)
        return call

    async def close(self):
        self.sync.close()


def _is_config(obj) -> bool:
    """A ModalSandboxConfig-like object (not an endpoint)."""
    return obj is not None and not isinstance(obj, (str, list, tuple)) and hasattr(obj, "name")


class SlotboxToolBackend:
    def __init__(self, config=None, *, endpoint=None, token: Optional[str] = None,
                 default_profile: Optional[str] = None, timeout: float = 300.0,
                 lease_ttl_s: Optional[float] = None, cluster: Optional[bool] = None,
                 profiles: Optional[Dict[str, Any]] = None):
        """config: a ModalSandboxConfig-like object (its name is the profile;
        execution_timeout_s, acquire_timeout_s and env_vars are honoured;
        image and sizes come from the daemon's profile of that name), or the
        endpoint itself (socket path / http:// URL / list of nodes).
        lease_ttl_s: leases end by themselves after that long without a
        call, so a crashed trainer's slots return to the pool. Several
        endpoints (a list, or commas), or cluster=True, spread the slots
        over many nodes through a ClusterClient."""
        if config is not None and not _is_config(config):
            endpoint, config = config, None
        self.config = config
        self._profiles: Dict[str, Any] = dict(profiles or {})
        if config is not None:
            self._profiles.setdefault(config.name, config)
            default_profile = default_profile or config.name
        if cluster is None:
            cluster = (isinstance(endpoint, (list, tuple))
                       or (isinstance(endpoint, str) and "," in endpoint))
        self._sync_args = (endpoint, token, timeout)
        if cluster:
            from .cluster import ClusterClient
            self._sync = ClusterClient(endpoint, token, timeout)
            self.aio = _Threaded(self._sync)
        else:
            self._sync = None
            self.aio = AsyncClient(endpoint, token, timeout)
        self.default_profile = default_profile
        self.lease_ttl_s = lease_ttl_s
        self._default_timeout = self._cfg_float(config, "execution_timeout_s")
        self._leased: Dict[str, Slot] = {}
        self._slot_profile: Dict[str, str] = {}
        self._strip_convention = False

    @classmethod
    def with_profiles(cls, app_name: str = "atropos-sandbox",
                      profiles: Optional[Dict[str, Any]] = None, default_profile: str = "default",
                      profiles_file: Optional[str] = None, **kw) -> "SlotboxToolBackend":
        """Several profiles, as ModalToolBackend.with_profiles: profiles maps
        names to ModalSandboxConfig-like objects (their per-profile timeouts
        and env_vars are used); the pools themselves are the daemon's
        profiles of those names (slotboxd --config takes the same YAML).
        app_name and profiles_file are accepted and not needed."""
        del app_name, profiles_file
        return cls(profiles=profiles, default_profile=default_profile, **kw)

    @staticmethod
    def _cfg_float(cfg, name):
        v = getattr(cfg, name, None) if cfg is not None else None
        return None if v is None else float(v)

    @property
    def client(self):
        """A synchronous client of the same daemon(s), for scripts and
        get_status(); the backend's own calls go through .aio."""
        if self._sync is None:
            self._sync = Client(*self._sync_args)
        return self._sync

    @property
    def default_timeout_s(self) -> Optional[float]:
        return self._default_timeout

    async def start(self, profiles_to_start: Optional[List[str]] = None) -> None:
        """Check the daemon and the profiles; profiles_to_start (default:
        the default profile) have a sandbox up before this returns."""
        await self.aio.health()
        profiles = await self.aio.profiles()
        name = self.default_profile or profiles["default_profile"]
        wanted = list(profiles_to_start or [name])
        for n in [name] + wanted:
            if n not in profiles["profiles"]:
                raise ValueError(f"Unknown profile: {n} (slotboxd serves "
                                 f"{', '.join(sorted(profiles['profiles']))})")
        self.default_profile = name
        if self._default_timeout is None:
            self._default_timeout = float(profiles["profiles"][name]["execution_timeout_s"])
        await asyncio.gather(*(self._warm(n, profiles["profiles"][n]) for n in dict.fromkeys(wanted)))

    async def _warm(self, name, profile):
        """A pool with no sandbox yet gets one now (a lease taken and given
        back), so the first trajectory does not pay for its start."""
        st = await self.aio.status()
        if st.get("pools", {}).get(name, {}).get("sandboxes", 0) > 0:
            return
        slot = await self.aio.acquire("warm-up", name, profile.get("acquire_timeout_s"))
        await self.aio.release(slot, False)

    async def stop(self, *, purge: bool = False) -> None:
        """Release every slot this backend still holds (purge: reset them)."""
        for slot in list(self._leased.values()):
            try:
                await self.aio.release(slot, purge)
            except SlotboxError:
                pass
        self._leased.clear()
        await self.aio.close()
        if self._sync is not None and not isinstance(self.aio, _Threaded):
            self._sync.close()

    async def acquire(self, trajectory_id: Optional[str] = None,
                      profile: Optional[str] = None, snapshot: Optional[str] = None) -> Slot:
        """A slot of profile (default: the backend's), or, with snapshot, one
        whose workspace starts as that snapshot."""
        name = None if snapshot is not None else (profile or self.default_profile)
        cfg = self._profiles.get(name or "")
        slot = await self.aio.acquire(trajectory_id, name,
                                         self._cfg_float(cfg, "acquire_timeout_s"),
                                         self.lease_ttl_s, snapshot)
        self._leased[slot.slot_id] = slot
        self._slot_profile[slot.slot_id] = slot.metadata.get("profile") or name or ""
        return slot

    async def fork(self, slot: Slot, count: int = 1,
                   trajectory_ids: Optional[List[str]] = None) -> List[Slot]:
        """count new slots whose workspaces are copies of slot's now (the
        source keeps running; processes are not copied). Each keeps the
        fork's figures in metadata["fork"]. Released like any other slot."""
        slots = await self.aio.fork(slot, count, trajectory_ids, self.lease_ttl_s)
        for s in slots:
            self._leased[s.slot_id] = s
            self._slot_profile[s.slot_id] = self._slot_profile.get(slot.slot_id, "")
        return slots

    async def snapshot(self, slot: Slot, name: str) -> Dict[str, Any]:
        return await self.aio.snapshot(slot, name)

    async def list_snapshots(self) -> List[Dict[str, Any]]:
        return await self.aio.snapshots()

    async def delete_snapshot(self, name: str) -> None:
        await self.aio.delete_snapshot(name)

    async def release(self, slot: Slot, *, reset_workspace: bool = False) -> None:
        """Give the slot back. The workspace is kept for the next lease
        unless reset_workspace=True (as upstream). A lease that already
        ended (expired, released) is not an error."""
        try:
            await self.aio.release(slot, reset_workspace)
        except (SlotNotLeased, NotFound):
            pass
        self._leased.pop(slot.slot_id, None)
        self._slot_profile.pop(slot.slot_id, None)
        slot.release()

    def _args_for(self, slot, tool, args):
        args = dict(args)
        if tool == "bash":
            cfg = self._profiles.get(self._slot_profile.get(slot.slot_id, ""))
            env_vars = getattr(cfg, "env_vars", None) if cfg is not None else None
            if env_vars:
                args["env"] = dict(env_vars, **(args.get("env") or {}))
            if self._strip_convention:
                for k in CONVENTION_ARGS:
                    args.pop(k, None)
        return args

    async def _exec_one(self, slot, tool, args, timeout_s):
        sent = self._args_for(slot, tool, args)
        try:
            return await self.aio.exec(slot, tool, sent, timeout_s)
        except BadRequest as e:
            if tool == "bash" and any(k in sent and f'"{k}"' in e.message for k in CONVENTION_ARGS):
                self._strip_convention = True
                return await self._exec_one(slot, tool, args, timeout_s)
            return self._failed(slot, e)
        except SlotboxError as e:
            return self._failed(slot, e)
        except (OSError, asyncio.TimeoutError) as e:  # daemon unreachable, no answer
            return ExecutionResult(success=False, error=f"slotbox: {_say(e)}",
                                   slot_id=getattr(slot, "slot_id", ""),
                                   metadata={"error_class": "infra"})

    @staticmethod
    def _failed(slot, e):
        return ExecutionResult(success=False, error=str(e), slot_id=getattr(slot, "slot_id", ""),
                               metadata={"error_class": "infra", "error_code": e.code})

    async def execute_batch(self, requests: List[Tuple[Slot, str, Dict[str, Any]]], *,
                            timeout_s: Optional[float] = None) -> List[ExecutionResult]:
        """Every call at once, results in order. A call the daemon cannot
        run (its lease ended, ...) is a failed result, not an exception."""
        reqs = list(requests)
        if not reqs:
            return []
        return list(await asyncio.gather(*(self._exec_one(s, t, a, timeout_s) for s, t, a in reqs)))

    # ---- artifact helpers: answers in the shapes of the upstream payloads ----

    async def read_artifact(self, slot: Slot, path: str, *, encoding: str = "text",
                            max_bytes: Optional[int] = None, include_sha256: bool = False,
                            timeout_s: Optional[float] = None) -> Dict[str, Any]:
        try:
            r = await self._bounded(self.aio.read_file(slot, path, encoding, max_bytes,
                                                          include_sha256), timeout_s)
        except Exception as e:  # noqa: BLE001 - helpers answer, never raise
            return {"success": False, "content": "", "error": _say(e), "path": path,
                    "encoding": encoding}
        out = {"success": True, "content": r["content"], "error": "", "path": r.get("path", path),
               "encoding": r["encoding"], "bytes": r["bytes"], "file_size": r["file_size"],
               "truncated": r["truncated"]}
        if include_sha256:
            out["sha256"] = r.get("sha256")
        return out

    async def list_artifacts(self, slot: Slot, path: str = ".", *, recursive: bool = False,
                             max_entries: Optional[int] = None,
                             timeout_s: Optional[float] = None) -> Dict[str, Any]:
        try:
            r = await self._bounded(self.aio.list(slot, path, recursive, max_entries, long=True),
                                    timeout_s)
        except Exception as e:  # noqa: BLE001
            return {"success": False, "entries": [], "truncated": False, "error": _say(e)}
        entries = [e if isinstance(e, dict) else
                   # a daemon before API 1.1: names only
                   {"path": e.rstrip("/"), "is_dir": e.endswith("/"), "size": 0, "mtime": 0.0}
                   for e in r["entries"]]
        return {"success": True, "entries": entries, "truncated": bool(r.get("truncated")),
                "error": ""}

    async def archive_artifacts(self, slot: Slot, path: str = ".", *, archive_format: str = "tar.gz",
                                max_bytes: Optional[int] = None, max_entries: Optional[int] = None,
                                timeout_s: Optional[float] = None) -> Dict[str, Any]:
        fmt = "tar.gz" if archive_format == "tgz" else archive_format
        failed = {"success": False, "content": "", "archive_base64": "", "encoding": "base64",
                  "format": archive_format, "bytes": 0, "entry_count": 0}
        try:
            data = await self._bounded(self.aio.archive(slot, path, fmt, max_bytes), timeout_s)
            count = archives.count_entries(data, fmt)
        except Exception as e:  # noqa: BLE001
            return dict(failed, error=_say(e))
        if max_entries is not None and count > max_entries:
            return dict(failed, error=f"{path} holds {count} entries, more than max_entries "
                                      f"({max_entries})")
        b64 = base64.b64encode(data).decode()
        return {"success": True, "content": b64, "archive_base64": b64, "encoding": "base64",
                "format": archive_format, "bytes": len(data), "entry_count": count, "error": ""}

    @staticmethod
    async def _bounded(coro, timeout_s):
        return await (coro if timeout_s is None else asyncio.wait_for(coro, timeout_s))

    # ---- status ----

    async def aget_status(self) -> Dict[str, Any]:
        st = await self.aio.status()
        return self._status(st, await self.aio.profiles())

    async def alist_profiles(self) -> Dict[str, Dict[str, Any]]:
        return (await self.aio.profiles())["profiles"]

    def get_status(self) -> Dict[str, Any]:
        """As upstream (synchronous; a short local request). In a coroutine,
        prefer await aget_status()."""
        c = self.client
        return self._status(c.status(), c.profiles())

    def list_profiles(self) -> Dict[str, Dict[str, Any]]:
        return self.client.profiles()["profiles"]

    def _status(self, st, profiles):
        st["profiles"] = list(profiles["profiles"])
        st["active_pools"] = [n for n, p in profiles["profiles"].items() if p.get("active")]
        st.setdefault("default_profile", self.default_profile)
        return st


def _say(e: BaseException) -> str:
    if isinstance(e, asyncio.TimeoutError):
        return "timed out"
    return str(e) or type(e).__name__


__all__ = ["SlotboxToolBackend", "SlotState", "CONVENTION_ARGS"]
