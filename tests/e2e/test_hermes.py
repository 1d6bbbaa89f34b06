# SPDX-License-Identifier: Apache-2.0
"""Hermes-Agent's terminal backend on slotbox: the plugin registers the
"slotbox" provider the way Hermes loads plugins (register(ctx)), and the
environment it creates keeps the pool-era contract (one slot per task_id,
merged output, 124 on timeout, 130 on interrupt, never raising for a
failing command, .cwd = the workspace, cleanup() releasing the slot)."""
import threading
import time

import pytest

import slotbox.hermes as hermes
from slotbox import Client

POOL = """
profiles:
  default:
    slots_per_sandbox: 2
    min_sandboxes: 1
    max_sandboxes: 2
    execution_timeout_s: 30
"""


class Ctx:
    """What a plugin may call on Hermes' PluginContext (the one call used)."""

    def __init__(self):
        self.providers = []

    def register_terminal_environment_provider(self, provider):
        self.providers.append(provider)


def until(pred, what, limit=5.0):
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.05)
    pytest.fail(f"never happened: {what}")


@pytest.fixture
def provider(make_daemon, monkeypatch):
    d = make_daemon(POOL)
    monkeypatch.delenv("SLOTBOX_URL", raising=False)
    monkeypatch.setenv("SLOTBOX_SOCKET", d.socket)
    monkeypatch.setenv("SLOTBOX_PROFILE", "default")
    ctx = Ctx()
    hermes.register(ctx)
    assert [p.name for p in ctx.providers] == ["slotbox"]
    p = ctx.providers[0]
    assert p.is_available() and p.check_requirements({})
    p.daemon = d
    return p


def test_terminal_file_and_background_commands(provider):
    env = provider.create_environment(cwd="/root", timeout=20, task_id="task-1",
                                      container_config={"container_cpu": 1}, future_key=1)
    ws = env.slot.workspace_dir
    assert env.cwd == ws
    r = env.execute("echo out; echo err >&2; echo out2; exit 3")
    assert r == {"output": "out\nerr\nout2\n", "returncode": 3}, r
    assert env.execute("definitely-not-a-command")["returncode"] == 127
    assert env.execute("pwd", cwd="/home/someone/project")["output"] == ws + "\n"
    assert env.execute("pwd", cwd="~")["output"] == ws + "\n"
    env.execute("mkdir -p sub")
    assert env.execute("pwd", cwd="sub")["output"] == ws + "/sub\n"
    # files: through the shell and through the file API, same workspace
    assert env.execute("printf 'line1\\nline2\\n' > notes.txt && wc -l < notes.txt")["output"] == "2\n"
    assert env.read_file("notes.txt")["content"] == "line1\nline2\n"
    env.write_file("data/x.txt", "from the API\n")
    assert env.execute("cat data/x.txt")["output"] == "from the API\n"
    assert env.execute("cat", stdin_data="piped in")["output"] == "piped in"
    # background commands: the call returns, the job keeps running
    t0 = time.monotonic()
    r = env.execute("(sleep 1; echo bg-done > bg.txt) & echo started")
    assert r == {"output": "started\n", "returncode": 0}
    r = env.execute("nohup sh -c 'sleep 1; echo nohup-done > nh.txt' > /dev/null 2>&1 &")
    assert r["returncode"] == 0
    assert time.monotonic() - t0 < 1.0 + 5.0, "the call did not wait for the job"
    until(lambda: env.execute("cat bg.txt nh.txt 2>/dev/null")["output"] == "bg-done\nnohup-done\n",
          "background jobs finished")
    # one slot per task_id; another task gets its own
    same = provider.create_environment(cwd="", timeout=20, task_id="task-1")
    other = provider.create_environment(cwd="", timeout=20, task_id="task-2")
    assert same.slot.slot_id == env.slot.slot_id and other.slot.slot_id != env.slot.slot_id
    assert other.execute("cat notes.txt 2>&1; true")["output"] != "line1\nline2\n"
    same.cleanup()
    assert env.execute("echo still")["output"] == "still\n", "the task's other env holds the slot"
    env.cleanup()
    other.stop()
    with Client(provider.daemon.socket) as c:
        assert c.status()["pools"]["default"]["leased_slots"] == 0


def test_timeout_and_interrupt(provider):
    env = provider.create_environment(cwd="", timeout=20, task_id="task-t")
    r = env.execute("echo before; sleep 30", timeout=1)
    assert r["returncode"] == 124 and r["output"].startswith("before\n"), r
    assert "timed out" in r["output"]
    watcher = provider.create_environment(cwd="", timeout=20, task_id="task-t")  # same slot

    def sleeping():
        return bool(watcher.execute("pgrep -f 'sleep 6[4]' || true")["output"].strip())
    threading.Thread(target=lambda: (until(sleeping, "sleep 64 started"), env.interrupt()),
                     daemon=True).start()
    r = env.execute("sleep 64")
    assert r["returncode"] == 130, r
    until(lambda: not sleeping(), "the interrupted command was killed", limit=3.0)
    assert env.execute("echo after")["output"] == "after\n"
    watcher.cleanup()
    env.cleanup()
