# SPDX-License-Identifier: Apache-2.0
"""The Python client against the real daemon, through the call sequence the
seed's ToolBackend users run: start; acquire x N; execute_batch mixing bash,
read_file and write_file; read/list/archive artifacts; release with reset;
get_status; stop."""
import asyncio
import base64
import io
import tarfile

import pytest

import slotbox
from slotbox import (AcquireTimeout, Client, ExecutionResult, SlotboxToolBackend, SlotNotLeased,
                     UnknownProfile)


def test_seed_call_sequence(make_daemon):
    d = make_daemon("""
profiles:
  default:
    slots_per_sandbox: 4
    min_sandboxes: 1
    max_sandboxes: 2
""")

    async def rollout():
        backend = SlotboxToolBackend(d.socket)
        await backend.start()
        assert backend.default_timeout_s == 30.0
        slots = [await backend.acquire(f"traj-{i}") for i in range(6)]
        assert len({s.slot_id for s in slots}) == 6
        assert all(s.workspace_dir == "/workspace" and s.alloc_id for s in slots)
        assert slots[0].trajectory_id == "traj-0"
        reqs = []
        for i, s in enumerate(slots):
            reqs.append((s, "write_file", {"path": "in.txt", "content": f"value {i}\n"}))
        res = await backend.execute_batch(reqs)
        assert all(r.success for r in res), [r.to_dict() for r in res]
        res = await backend.execute_batch(
            [(s, "bash", {"command": "cat in.txt | tr a-z A-Z > out.txt && cat out.txt"}) for s in slots]
            + [(slots[0], "read_file", {"path": "in.txt"})], timeout_s=20)
        assert [r.output for r in res[:6]] == [f"VALUE {i}\n" for i in range(6)]
        assert res[6].output == "value 0\n"
        assert isinstance(res[0], ExecutionResult) and res[0].to_dict()["slot_id"] == slots[0].slot_id
        art = await backend.read_artifact(slots[2], "out.txt", include_sha256=True)
        assert art["success"] and art["content"] == "VALUE 2\n" and len(art["sha256"]) == 64
        lst = await backend.list_artifacts(slots[2], ".")
        assert [e["path"] for e in lst["entries"]] == ["in.txt", "out.txt"]  # {path, is_dir, size, mtime}
        arc = await backend.archive_artifacts(slots[2], ".", archive_format="tar.gz")
        names = tarfile.open(fileobj=io.BytesIO(base64.b64decode(arc["archive_base64"]))).getnames()
        assert sorted(names) == ["in.txt", "out.txt"]
        missing = await backend.read_artifact(slots[2], "nope.txt")
        assert missing["success"] is False and "not_found" in missing["error"]
        for s in slots:
            await backend.release(s, reset_workspace=True)
        st = backend.get_status()
        assert st["pools"]["default"]["leased_slots"] == 0
        assert "default" in backend.list_profiles()
        again = await backend.acquire("traj-x")
        r = (await backend.execute_batch([(again, "bash", {"command": "ls -A"})]))[0]
        assert r.output == "", "a reset workspace is empty"
        await backend.stop(purge=True)
        assert Client(d.socket).status()["pools"]["default"]["leased_slots"] == 0

    asyncio.run(rollout())


def test_sync_client_and_typed_errors(daemon):
    with Client(daemon.socket) as c:
        assert c.health()["ok"] is True
        slot = c.acquire("t", timeout_s=10)
        r = c.bash(slot, "echo $((6*7))")
        assert r.success and r.output == "42\n" and r.metadata["returncode"] == 0
        w = c.write_file(slot, "b.bin", bytes(range(256)))
        assert w["bytes"] == 256
        assert base64.b64decode(c.read_file(slot, "b.bin", encoding="base64")["content"]) == bytes(range(256))
        c.release(slot)
        with pytest.raises(SlotNotLeased):
            c.bash(slot, "true")
        with pytest.raises(UnknownProfile):
            c.acquire(profile="nope")
        with pytest.raises(slotbox.BadRequest):
            c.acquire(timeout_s=-1)
        held = [c.acquire(timeout_s=10) for _ in range(4)]  # the whole small pool
        with pytest.raises(AcquireTimeout):
            c.acquire(timeout_s=0.3)
        for s in held:
            c.release(s, reset=False)
        # TTL leases: renew keeps one, and an ended lease's id is refused
        slot = c.acquire("ttl", timeout_s=10, ttl_s=30)
        assert c.renew(slot).slot_id == slot.slot_id
        c.renew(slot, ttl_s=0)
        c.release(slot)
        with pytest.raises(SlotNotLeased):
            c.renew(slot)


def test_example_rollout_runs(make_daemon):
    import subprocess
    import sys
    import os
    d = make_daemon(None, env={"SLOTBOX_SLOTS_PER_SANDBOX": "4"})
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    p = subprocess.run([sys.executable, os.path.join(root, "examples", "rollout.py"), "--socket", d.socket,
                        "-n", "6"], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "mean reward 1.00 over 6 trajectories" in p.stdout


def test_a_request_with_a_small_body_is_one_write(daemon):
    """The sync client sends a request's head and a small body in one
    write (transport._OneWriteMixin), so that the daemon reads it whole
    at one wake-up; a large body still follows its head, and every
    answer is right either way."""
    from slotbox import transport
    c = Client(daemon.socket)
    writes = []
    conn_class = transport._UnixHTTPConnection
    orig = conn_class.send

    def counting_send(self, data):
        writes.append(len(data))
        return orig(self, data)

    conn_class.send = counting_send
    try:
        slot = c.acquire("one-write")
        writes.clear()
        r = c.bash(slot, "echo hi")
        assert r.success and r.output == "hi\n", r
        assert len(writes) == 1, writes
        writes.clear()
        big = "x" * (transport.COALESCE_MAX + 1)
        c.write_file(slot, "big.txt", big.encode())
        assert len(writes) == 2 and writes[1] > transport.COALESCE_MAX, writes
        got = c.read_file(slot, "big.txt")
        assert got["bytes"] == len(big) and got["content"] == big, {k: got[k] for k in ("bytes",)}
        c.release(slot)
    finally:
        conn_class.send = orig
