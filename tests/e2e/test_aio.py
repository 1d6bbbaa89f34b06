# SPDX-License-Identifier: Apache-2.0
"""The asyncio client (slotbox.AsyncClient) against the real daemon: its own
HTTP/1.1 transport, many calls in flight on one thread, cancellation that
reaches the slot, and request deadlines that follow timeout_s."""
import asyncio
import hashlib
import io
import os
import re
import resource
import tarfile
import tempfile
import threading
import time

import pytest

from slotbox import AsyncClient, Client, Unauthorized
from slotbox.archives import tar_gz_files

POOL = """
profiles:
  default:
    slots_per_sandbox: 4
    min_sandboxes: 1
    max_sandboxes: 2
    pids_max: 4096
    execution_timeout_s: 60
"""


def run(coro):
    return asyncio.run(coro)


async def wait_until(pred, what, limit=10.0):
    """Polls pred() (a coroutine function) until true; fails after limit s."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if await pred():
            return
        await asyncio.sleep(0.05)
    pytest.fail(f"never happened: {what}")


async def running(c, slot, pattern):
    r = await c.bash(slot, f"pgrep -f '{pattern}' || true")
    return bool(r.output.strip())


def test_every_endpoint_as_a_coroutine(make_daemon):
    d = make_daemon(POOL)

    async def main():
        async with AsyncClient(d.socket) as c:
            assert (await c.health())["ok"] is True
            assert "default" in (await c.profiles())["profiles"]
            slot = await c.acquire("a1", timeout_s=10)
            assert slot.trajectory_id == "a1"
            assert (await c.status())["pools"]["default"]["leased_slots"] == 1
            r = await c.bash(slot, "echo $((6*7)); echo oops >&2; exit 3")
            assert (r.success, r.metadata["returncode"]) == (False, 3)
            assert r.metadata["stdout"] == "42\n" and r.metadata["stderr"] == "oops\n"
            assert (await c.write_file(slot, "dir/b.bin", bytes(range(256))))["bytes"] == 256
            got = await c.read_file(slot, "dir/b.bin", encoding="base64", sha256=True)
            assert got["bytes"] == 256 and len(got["sha256"]) == 64
            # a body big enough to need several reads (and chunked answers)
            big = os.urandom(3 << 20)
            await c.write_file(slot, "big.bin", big)
            arc = await c.archive(slot, ".", format="tgz")
            with tarfile.open(fileobj=io.BytesIO(arc)) as tf:
                assert tf.extractfile("big.bin").read() == big
            forks = await c.fork(slot, 1)
            assert forks[0].metadata["fork"]["copied_entries"] >= 3, forks[0].metadata
            r = await c.bash(forks[0], "cat dir/b.bin | wc -c")
            assert r.output.strip() == "256"
            await c.release(forks[0])
            await c.release(slot)
            assert (await c.status())["pools"]["default"]["leased_slots"] == 0

    run(main())


def test_upload_archive_and_dir(make_daemon):
    d = make_daemon(POOL)

    async def main():
        async with AsyncClient(d.socket) as c:
            slot = await c.acquire(timeout_s=10)
            up = await c.upload_archive(slot, tar_gz_files({"src/a.py": "print(1)\n",
                                                            "b.txt": b"bee"}), "proj")
            assert up["entries"] >= 2, up
            r = await c.bash(slot, "cat proj/src/a.py proj/b.txt")
            assert r.output == "print(1)\nbee"
            with tempfile.TemporaryDirectory() as local:
                os.makedirs(os.path.join(local, "pkg"))
                with open(os.path.join(local, "pkg", "m.txt"), "w") as f:
                    f.write("from a dir\n")
                await c.upload_dir(slot, local, "copy")
            r = await c.read_file(slot, "copy/pkg/m.txt")
            assert r["content"] == "from a dir\n"
            top = await c.list(slot, "copy", long=True)
            assert top["entries"][0]["path"] == "pkg" and top["entries"][0]["is_dir"] is True
            lst = await c.list(slot, "copy", recursive=True, long=True)  # files
            by = {e["path"]: e for e in lst["entries"]}
            assert by["pkg/m.txt"]["size"] == len("from a dir\n")
            assert abs(by["pkg/m.txt"]["mtime"] - time.time()) < 3600
            await c.release(slot)

    run(main())


def test_thousand_calls_in_flight_on_a_handful_of_threads(make_daemon):
    """1,000 concurrent `sleep` calls: all in flight at once (the daemon
    holds every one) while the process gains no thread per call."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 8192)), hard))
    # 200 calls a sandbox: far more in one sandbox makes today's daemon
    # fail sends to the sandbox's leader with EAGAIN (sandbox_lost).
    d = make_daemon("""
profiles:
  default:
    slots_per_sandbox: 2
    min_sandboxes: 5
    max_sandboxes: 5
    pids_max: 4096
    execution_timeout_s: 120
""")
    n, nslots = 1000, 10

    async def main():
        async with AsyncClient(d.socket) as c:
            slots = [await c.acquire(f"t{i}", timeout_s=60) for i in range(nslots)]
            assert len({s.alloc_id for s in slots}) == 5
            for s in slots:  # each slot has its own /tmp and pid namespace
                await c.bash(s, "mkfifo /tmp/gate")
            before = threading.active_count()
            # Every call blocks opening a FIFO until the test opens it for
            # writing, so all are in flight together however slow the host.
            calls = [asyncio.ensure_future(c.bash(slots[i % nslots],
                                                  "cat /tmp/gate; echo ok", timeout_s=110))
                     for i in range(n)]
            peak = threading.active_count()

            async def all_running():
                nonlocal peak
                peak = max(peak, threading.active_count())
                total = 0
                for s in slots:
                    r = await c.bash(s, "pgrep -c -f '^cat /tmp/gat[e]' || true")
                    total += int(r.output.strip() or 0)
                return total >= n
            await wait_until(all_running, f"{n} calls running at once", limit=90)
            while not all(t.done() for t in calls):  # open, hold a moment, close: EOF
                await asyncio.gather(*(c.bash(s, "timeout 2 sh -c 'exec 3>/tmp/gate; sleep 0.3' || true")
                                       for s in slots))
            results = await asyncio.gather(*calls)
            peak = max(peak, threading.active_count())
            assert all(r.success and r.output == "ok\n" for r in results)
            assert peak <= before + 2, (before, peak)
            for s in slots:
                await c.release(s)

    run(main())


def test_cancelling_the_task_kills_the_call_in_the_slot(make_daemon):
    d = make_daemon(POOL)

    async def main():
        async with AsyncClient(d.socket) as c:
            slot = await c.acquire(timeout_s=10)
            task = asyncio.ensure_future(c.bash(slot, "sleep 61; echo never"))
            await wait_until(lambda: running(c, slot, "sleep 6[1]"), "sleep 61 started")
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            await wait_until(lambda: _not(running(c, slot, "sleep 6[1]")), "sleep 61 killed",
                             limit=1.0 + 2.0)
            # explicit cancel of a call named by the client
            named = asyncio.ensure_future(c.bash(slot, "sleep 62", execution_id="py-named-1"))
            await wait_until(lambda: running(c, slot, "sleep 6[2]"), "sleep 62 started")
            assert await c.cancel("py-named-1") is True
            r = await named
            assert r.success is False and r.metadata["error_class"] == "cancelled", r
            assert not await running(c, slot, "sleep 6[2]")
            assert await c.cancel("py-named-1") is False  # no longer running
            await c.release(slot)

    run(main())


async def _not(coro):
    return not await coro


def test_request_deadline_follows_timeout_s(make_daemon):
    """The HTTP deadline of a call is its timeout_s plus a margin, or the
    daemon's own deadline when it names none, never the transport's fixed
    timeout: with a 1 s transport timeout, 2 s calls still finish. A caller
    that gives up (wait_for) closes the connection, which kills the call."""
    d = make_daemon(POOL)

    async def main():
        async with AsyncClient(d.socket, timeout=1.0) as c:
            slot = await c.acquire(timeout_s=10)
            r = await c.bash(slot, "sleep 2; echo done", timeout_s=10)
            assert r.output == "done\n"
            r = await c.bash(slot, "sleep 2; echo no-timeout_s")
            assert r.output == "no-timeout_s\n"
            r = await c.bash(slot, "sleep 63", timeout_s=1)  # the daemon's deadline answers
            assert r.metadata["timed_out"] is True
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(c.bash(slot, "sleep 63", timeout_s=100), 1.0)
            async with AsyncClient(d.socket) as other:
                await wait_until(lambda: _not(running(other, slot, "sleep 6[3]")),
                                 "abandoned call killed", limit=3.0)
            await c.release(slot)

    run(main())
    with Client(d.socket, timeout=1.0) as c:
        slot = c.acquire(timeout_s=10)
        assert c.bash(slot, "sleep 2; echo sync", timeout_s=10).output == "sync\n"
        assert c.bash(slot, "sleep 2; echo sync2").output == "sync2\n"
        c.release(slot)


def test_tcp_with_token_from_the_environment(make_daemon, tmp_path, monkeypatch):
    """Over TCP the bearer token comes from $SLOTBOX_TOKEN_FILE; a wrong one
    is refused with the typed error; big bodies cross both ways."""
    token = tmp_path / "token"
    token.write_text("aio-token-0123456789abcdef\n")
    token.chmod(0o600)  # a token others can read is refused
    d = make_daemon(POOL, args=["--listen", "tcp://127.0.0.1:0", "--token-file", str(token)])
    m = re.search(r'listening.*?port\W+(\d+)', d.read_log())
    assert m, d.read_log()
    url = "http://127.0.0.1:" + m.group(1)
    monkeypatch.setenv("SLOTBOX_URL", url)
    monkeypatch.setenv("SLOTBOX_TOKEN_FILE", str(token))

    async def main():
        async with AsyncClient() as c:
            assert c.endpoint == url
            slot = await c.acquire(timeout_s=10)
            blob = os.urandom(1 << 20)
            await c.write_file(slot, "blob", blob)
            r = await c.bash(slot, "sha256sum < blob | cut -c1-64")
            assert r.output.strip() == hashlib.sha256(blob).hexdigest()
            await c.release(slot)
        async with AsyncClient(url, token="wrong") as bad:
            with pytest.raises(Unauthorized):
                await bad.status()

    run(main())
