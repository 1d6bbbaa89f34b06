# SPDX-License-Identifier: Apache-2.0
"""atropos-agent's tool path on slotbox with only the backend line changed.

The test re-creates, in its own code, the call sequence of atropos-agent's
ToolExecutor (queue + batch window run loop, trajectory -> slot affinity,
`terminal` as an alias of bash with the network-policy args it adds,
execute_batch grouped by timeout, to_tool_result() with uniq_id set after,
artifact helpers validated against payload models, release in `finally`,
close() then backend.stop()). The payload models below are small strict
re-statements of the upstream pydantic models' fields and types (extra keys
ignored, as pydantic does by default)."""
import asyncio
import base64
import io
import sys
import tarfile
import threading
import time
import types
import uuid
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

import pytest

import slotbox.types as sbtypes
from slotbox import AcquireTimeout, Client, Slot, SlotboxToolBackend, SlotState

# ---- models of the upstream payloads (field: (types, required)) ----------

_NUM = (int, float)
READ_RESPONSE = {"success": (bool, True), "content": (str, False), "error": (str, False),
                 "encoding": (str, False), "truncated": (bool, False), "bytes": (int, False),
                 "file_size": ((int, type(None)), False), "path": (str, False),
                 "mime": ((str, type(None)), False), "sha256": ((str, type(None)), False)}
LIST_ENTRY = {"path": (str, True), "is_dir": (bool, True), "size": (int, True),
              "mtime": (_NUM, True)}
LIST_RESPONSE = {"success": (bool, True), "entries": (list, False), "truncated": (bool, False),
                 "error": (str, False)}
ARCHIVE_RESPONSE = {"success": (bool, True), "content": (str, False), "error": (str, False),
                    "encoding": (str, False), "format": (str, False), "bytes": (int, False),
                    "entry_count": (int, False)}


def validate(model, data):
    """What the upstream model would accept: a dict, every required field,
    every known field of its type (bool is not an int there either)."""
    assert isinstance(data, dict), data
    for name, (typ, required) in model.items():
        if name not in data:
            assert not required, f"missing {name}: {data}"
            continue
        v = data[name]
        bad = not isinstance(v, typ) or (isinstance(v, bool) and bool not in
                                        (typ if isinstance(typ, tuple) else (typ,)))
        assert not bad, f"{name}={v!r} is not {typ}"
    if model is LIST_RESPONSE:
        for e in data.get("entries", []):
            validate(LIST_ENTRY, e)
    return data


# ---- a re-creation of ToolExecutor's call sequence -------------------------

@dataclass
class Call:
    name: str
    arguments: Dict[str, Any]
    uniq_id: str = field(default_factory=lambda: str(uuid.uuid4()))


@dataclass
class Queued:
    trajectory_id: str
    call: Call
    timeout_s: Optional[float]
    future: asyncio.Future


class Executor:
    SANDBOX_TOOLS = ("bash", "terminal", "read_file", "write_file")

    def __init__(self, backend, batch_window_ms=20, max_batch=200, allow_network=True,
                 require_sandbox=False):
        self.backend = backend
        self.window = batch_window_ms / 1000.0
        self.max_batch = max_batch
        self.allow_network = allow_network
        self.require_sandbox = require_sandbox
        self.queue: asyncio.Queue = asyncio.Queue()
        self.stopping = asyncio.Event()
        self.task = None
        self.lock = asyncio.Lock()
        self.slots: Dict[str, Any] = {}
        self.batches: List[int] = []

    async def start(self):
        self.task = asyncio.create_task(self.run_loop())

    async def close(self):
        self.stopping.set()
        await self.queue.put(None)
        await self.task
        async with self.lock:
            left = list(self.slots.values())
            self.slots.clear()
        for slot in left:
            try:
                await self.backend.release(slot, reset_workspace=False)
            except Exception:  # noqa: BLE001 - best effort, as upstream
                pass

    async def execute(self, trajectory_id, call, timeout_s=None):
        if timeout_s is None and isinstance(call.arguments.get("timeout"), (int, float)):
            timeout_s = float(call.arguments["timeout"])
        if timeout_s is not None:
            timeout_s = max(1.0, min(float(timeout_s), 600.0))
        fut = asyncio.get_running_loop().create_future()
        await self.queue.put(Queued(trajectory_id, call, timeout_s, fut))
        return await fut

    async def release_trajectory(self, trajectory_id, reset_workspace=False):
        async with self.lock:
            slot = self.slots.pop(trajectory_id, None)
        if slot is not None:
            await self.backend.release(slot, reset_workspace=reset_workspace)

    async def slot_of(self, trajectory_id):
        async with self.lock:
            return self.slots.get(trajectory_id)

    async def get_or_acquire(self, trajectory_id):
        async with self.lock:
            if trajectory_id in self.slots:
                return self.slots[trajectory_id]
        slot = await self.backend.acquire(trajectory_id)
        async with self.lock:
            if trajectory_id in self.slots:
                await self.backend.release(slot, reset_workspace=False)
                return self.slots[trajectory_id]
            self.slots[trajectory_id] = slot
            return slot

    async def run_loop(self):
        pending, deadline = [], None
        while True:
            if self.stopping.is_set() and self.queue.empty() and not pending:
                return
            timeout = None if not pending else max(0.0, deadline - time.perf_counter())
            try:
                item = await asyncio.wait_for(self.queue.get(), timeout)
                if item is None:
                    continue
                pending.append(item)
                if len(pending) == 1:
                    deadline = time.perf_counter() + self.window
                if len(pending) < self.max_batch:
                    continue
            except asyncio.TimeoutError:
                pass
            if not pending:
                continue
            batch, pending, deadline = pending, [], None
            self.batches.append(len(batch))
            await self.execute_batch(batch)

    async def execute_batch(self, batch):
        tids = list({it.trajectory_id for it in batch})
        slots = dict(zip(tids, await asyncio.gather(*(self.get_or_acquire(t) for t in tids))))
        by_timeout: Dict[float, List[Queued]] = {}
        for it in batch:
            t = it.timeout_s if it.timeout_s is not None else self.backend.default_timeout_s
            by_timeout.setdefault(float(t if t is not None else 30.0), []).append(it)
        for timeout_s, items in by_timeout.items():
            requests = []
            for it in items:
                name, args = it.call.name, dict(it.call.arguments)
                if name == "terminal":
                    name = "bash"
                if name == "bash":
                    args.pop("timeout", None)
                    args["allow_network"] = bool(self.allow_network)
                    args["require_sandbox"] = bool(self.require_sandbox)
                requests.append((slots[it.trajectory_id], name, args))
            results = await self.backend.execute_batch(requests, timeout_s=timeout_s)
            for it, res in zip(items, results):
                tr = res.to_tool_result()
                tr.uniq_id = it.call.uniq_id
                it.future.set_result(tr)

    async def read_artifact(self, trajectory_id, path, **kw):
        slot = await self.slot_of(trajectory_id)
        return validate(READ_RESPONSE, await self.backend.read_artifact(slot, path, **kw))

    async def list_artifacts(self, trajectory_id, path=".", **kw):
        slot = await self.slot_of(trajectory_id)
        return validate(LIST_RESPONSE, await self.backend.list_artifacts(slot, path, **kw))

    async def archive_artifacts(self, trajectory_id, path=".", fmt="tar.gz", **kw):
        slot = await self.slot_of(trajectory_id)
        return validate(ARCHIVE_RESPONSE, await self.backend.archive_artifacts(
            slot, path, archive_format=fmt, **kw))


@dataclass
class SandboxConfig:
    """Shaped like atropos-agent's ModalSandboxConfig (the fields used)."""
    name: str = "default"
    app_name: Optional[str] = None
    image: str = "python:3.11"
    slots_per_sandbox: int = 10
    min_sandboxes: int = 1
    max_sandboxes: int = 5
    acquire_timeout_s: float = 60.0
    execution_timeout_s: float = 30.0
    env_vars: Dict[str, str] = field(default_factory=dict)


POOL = """
profiles:
  default:
    slots_per_sandbox: 4
    min_sandboxes: 1
    max_sandboxes: 2
    execution_timeout_s: 30
  big:
    slots_per_sandbox: 2
    min_sandboxes: 1
    max_sandboxes: 1
"""


async def trajectory(ex, tid, n):
    """One agent trajectory: tool calls, artifacts, release in finally."""
    try:
        w = await ex.execute(tid, Call("write_file", {"path": "src/in.txt", "content": f"v{n}\n"}))
        assert w.success, w
        t = await ex.execute(tid, Call("terminal", {"command": "cat src/in.txt | tr a-z A-Z > out.txt"
                                                    " && cat out.txt && echo $GREETING",
                                                    "timeout": 20}))
        assert t.success and t.output == f"V{n}\nhello\n", t
        r = await ex.execute(tid, Call("read_file", {"path": "out.txt"}))
        assert r.output == f"V{n}\n"
        bad = await ex.execute(tid, Call("bash", {"command": "exit 5"}))
        assert bad.success is False and bad.metadata["returncode"] == 5
        top = {e["path"]: e for e in (await ex.list_artifacts(tid, "."))["entries"]}
        assert top["src"]["is_dir"] and not top["out.txt"]["is_dir"]
        lst = await ex.list_artifacts(tid, ".", recursive=True)  # files, at any depth
        by = {e["path"]: e for e in lst["entries"]}
        assert set(by) == {"src/in.txt", "out.txt"}
        assert by["out.txt"]["size"] == len(f"V{n}\n") and by["out.txt"]["mtime"] > 0
        one = await ex.list_artifacts(tid, ".", recursive=True, max_entries=1)
        assert len(one["entries"]) == 1 and one["truncated"] is True
        art = await ex.read_artifact(tid, "out.txt", include_sha256=True)
        assert art["content"] == f"V{n}\n" and len(art["sha256"]) == 64
        for fmt in ("tar.gz", "tgz"):
            arc = await ex.archive_artifacts(tid, ".", fmt)
            assert arc["success"] and arc["encoding"] == "base64" and arc["format"] == fmt, arc
            raw = base64.b64decode(arc["content"])
            assert arc["bytes"] == len(raw) and arc["archive_base64"] == arc["content"]
            names = tarfile.open(fileobj=io.BytesIO(raw)).getnames()
            assert arc["entry_count"] == len(names) and "src/in.txt" in names
        capped = await ex.archive_artifacts(tid, ".", "tar.gz", max_entries=1)
        assert capped["success"] is False and "max_entries" in capped["error"]
        missing = await ex.read_artifact(tid, "nope.txt")
        assert missing["success"] is False and missing["error"]
        return t
    finally:
        await ex.release_trajectory(tid, reset_workspace=True)


def test_tool_executor_sequence_on_slotbox(make_daemon):
    d = make_daemon(POOL)

    async def main():
        # The one changed line: the backend.
        backend = SlotboxToolBackend(SandboxConfig(env_vars={"GREETING": "hello"}), endpoint=d.socket)
        await backend.start()
        assert backend.default_timeout_s == 30.0
        ex = Executor(backend)
        await ex.start()
        threads = threading.active_count()
        results = await asyncio.gather(*(trajectory(ex, f"traj-{i}", i) for i in range(6)))
        assert threading.active_count() <= threads, "no thread per call"
        assert max(ex.batches) > 1, "calls of several trajectories were batched"
        tr = results[0]
        assert type(tr).__name__ == "ToolResult" and tr.uniq_id and tr.metadata["returncode"] == 0
        assert tr.metadata["network"] in ("none", "egress", "host"), "what the call had"
        # a trajectory left holding its slot is released by close()
        await ex.execute("left", Call("bash", {"command": "true"}))
        st = await backend.aget_status()
        assert st["pools"]["default"]["leased_slots"] == 1
        await ex.close()
        assert backend.get_status()["pools"]["default"]["leased_slots"] == 0
        await backend.stop(purge=True)

    asyncio.run(main())


def test_slot_and_release_semantics(make_daemon):
    d = make_daemon(POOL)

    async def main():
        backend = SlotboxToolBackend.with_profiles(
            profiles={"default": SandboxConfig(), "big": SandboxConfig(name="big")},
            endpoint=d.socket)
        await backend.start(profiles_to_start=["default", "big"])
        pools = (await backend.aget_status())["pools"]
        assert pools["big"]["sandboxes"] >= 1, "start() warmed the big pool"
        assert set(backend.list_profiles()) == {"default", "big"}
        slot = await backend.acquire("t1", profile="big")
        assert slot.is_acquired and not slot.is_available
        assert Slot.from_dict(slot.to_dict()) == slot
        assert slot.container_addr and slot.alloc_id
        slot.start_execution("e1")
        assert slot.state == SlotState.EXECUTING and slot.metadata["current_execution_id"] == "e1"
        slot.end_execution()
        with pytest.raises(RuntimeError):
            slot.end_execution()
        # release keeps the workspace unless reset_workspace=True
        await backend.execute_batch([(slot, "write_file", {"path": "keep.txt", "content": "k"})])
        await backend.release(slot)
        assert slot.is_available and slot.trajectory_id is None
        await backend.release(slot)  # an ended lease: not an error
        again = [await backend.acquire(f"t{i}", profile="big") for i in range(2)]
        kept = await backend.execute_batch([(s, "bash", {"command": "cat keep.txt || true"})
                                            for s in again])
        assert "k" in [r.output for r in kept], "release() kept the workspace"
        for s in again:
            await backend.release(s, reset_workspace=True)
        # extra args by convention never fail a call; a failing one is a result
        s = await backend.acquire("t9")
        r = await backend.execute_batch([(s, "bash", {"command": "echo hi", "allow_network": False,
                                                      "require_sandbox": True,
                                                      "require_stateful_sandbox": False}),
                                         (s, "read_file", {"path": "absent"})])
        assert r[0].success and r[0].output == "hi\n" and r[1].success is False
        await backend.release(s)
        gone = (await backend.execute_batch([(s, "bash", {"command": "true"})]))[0]
        assert gone.success is False and gone.metadata["error_class"] == "infra"
        # a full pool: AcquireTimeout, which is also a TimeoutError
        held = [await backend.acquire(f"h{i}", profile="big") for i in range(2)]
        impatient = SlotboxToolBackend(SandboxConfig(name="big", acquire_timeout_s=0.3),
                                       endpoint=d.socket)
        with pytest.raises(TimeoutError):
            await impatient.acquire("late")
        with pytest.raises(AcquireTimeout):
            await impatient.acquire("late")
        await impatient.stop()
        for h in held:
            await backend.release(h)
        await backend.stop()
        # no daemon there: answers that say so, no exception
        nowhere = SlotboxToolBackend(endpoint="/nonexistent/slotbox.sock")
        for r in (await nowhere.read_artifact(slot, "x"), await nowhere.list_artifacts(slot),
                  await nowhere.archive_artifacts(slot, "."),):
            assert r["success"] is False and r["error"], r
        r = (await nowhere.execute_batch([(slot, "bash", {"command": "true"})]))[0]
        assert r.success is False and r.metadata["error_class"] == "infra"

    asyncio.run(main())


def test_to_tool_result_returns_the_callers_type(make_daemon, monkeypatch):
    """When the framework's ToolResult is importable, that type comes back."""
    mod = types.ModuleType("atropos.tools.base")

    @dataclass
    class ToolResult:
        success: bool
        output: str = ""
        error: str = ""
        metadata: Dict[str, Any] = field(default_factory=dict)
        uniq_id: Optional[str] = None
    mod.ToolResult = ToolResult
    for name in ("atropos", "atropos.tools"):
        monkeypatch.setitem(sys.modules, name, types.ModuleType(name))
    monkeypatch.setitem(sys.modules, "atropos.tools.base", mod)
    monkeypatch.setattr(sbtypes, "_tool_result_type", None)
    d = make_daemon(POOL)
    with Client(d.socket) as c:
        slot = c.acquire(timeout_s=10)
        tr = c.bash(slot, "echo x").to_tool_result()
        c.release(slot)
    assert type(tr) is ToolResult and tr.output == "x\n" and tr.uniq_id
    monkeypatch.setattr(sbtypes, "_tool_result_type", None)
